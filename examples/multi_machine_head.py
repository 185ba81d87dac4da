"""Multi-machine cluster, head side (PyCluster documentation). Run on the head machine."""

from pycluster import HeadNode

head = HeadNode(
    cluster_name="distributed-cluster",
    host="0.0.0.0",  # Listen on all interfaces
    scheduler_port=8786,
    dashboard_port=8787,
)

result = head.start()
conn_info = head.get_connection_info()

print("Head node started!")
print(f"Workers should connect to: {conn_info['scheduler_address']}")
print(f"Dashboard: {conn_info['dashboard_url']}")

# Keep the head node running
input("Press Enter to stop...")
head.shutdown()
