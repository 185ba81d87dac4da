"""The Quick Start from the PyCluster documentation, as written (no main guard needed)."""

from pycluster import HeadNode

# Start a head node with 4 local workers
with HeadNode(cluster_name="my-cluster") as head:
    result = head.start(n_local_workers=4)

    if result["status"] == "success":
        print("Cluster started!")
        print(f"Dashboard: {result['dashboard_address']}")

        # Submit a simple task
        cluster = head.cluster_manager
        future = cluster.submit_task(lambda x: x**2, 10)
        print(f"Result: {future.result()}")  # Output: 100
