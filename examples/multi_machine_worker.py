"""Multi-machine cluster, worker side (PyCluster documentation).

Set HEAD to the head machine's address (the document uses tcp://192.168.1.100:8786).
"""

import os

from pycluster import WorkerNode

worker = WorkerNode(
    scheduler_address=os.environ.get("HEAD", "tcp://192.168.1.100:8786"),  # Head node IP
    worker_name="worker-machine-1",
)

result = worker.start(n_workers=2, threads_per_worker=4)

if result["status"] == "success":
    print("Worker connected to cluster!")

    # Keep worker running
    input("Press Enter to stop...")
    worker.shutdown()
