"""Join a MasterNode from this machine (minimalcluster's Step 3): blocks until the master stops."""

import os

from pycluster.minimal import WorkerNode

your_host = os.environ.get("MASTER_HOST", "127.0.0.1")
your_port = int(os.environ.get("MASTER_PORT", "8888"))
your_authkey = os.environ.get("MASTER_AUTHKEY", "change-me-to-a-long-random-secret")
N_processors_to_use = int(os.environ.get("NPROCS", "2"))

worker = WorkerNode(your_host, your_port, your_authkey, nprocs=N_processors_to_use)

worker.join_cluster()
