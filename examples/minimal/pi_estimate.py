"""minimalcluster's Example 1, unchanged but for the import: estimate Pi with 1e6 throws.

Runs alone (the master joins as a worker). To add machines, start worker.py on them
with the same PORT and AUTHKEY and HOST set to this machine's address.
"""

import os

from pycluster.minimal import MasterNode

your_host = os.environ.get("MASTER_HOST", "127.0.0.1")
your_port = int(os.environ.get("MASTER_PORT", "0"))  # 0: any free port
your_authkey = os.environ.get("MASTER_AUTHKEY", "change-me-to-a-long-random-secret")
N = int(os.environ.get("PI_THROWS", "1000000"))

master = MasterNode(HOST=your_host, PORT=your_port, AUTHKEY=your_authkey)
master.start_master_server()

envir_statement = """
from random import random
example_pi_estimate_throw = lambda x: 1 if (random() * 2 - 1)**2 + (random() * 2 - 1)**2 < 1 else 0
"""
master.load_envir(envir_statement, from_file=False)
master.register_target_function("example_pi_estimate_throw")

master.load_args(range(N))

result = master.execute()

print("Pi is roughly %f" % (4.0 * sum([x2 for x1, x2 in result.items()]) / N))
master.shutdown()
