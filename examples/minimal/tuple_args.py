"""minimalcluster's Example 3: several arguments, wrapped in one tuple."""

import os

from pycluster.minimal import MasterNode

master = MasterNode(
    HOST=os.environ.get("MASTER_HOST", "127.0.0.1"),
    PORT=int(os.environ.get("MASTER_PORT", "0")),
    AUTHKEY=os.environ.get("MASTER_AUTHKEY", "change-me-to-a-long-random-secret"),
)
master.start_master_server()

envir_statement = """
f = lambda x:x[0]+x[1]
"""
master.load_envir(envir_statement, from_file=False)
master.register_target_function("f")

master.load_args([(1, 2), (3, 4), (5, 6), (7, 8)])

result = master.execute()

print(result)
master.shutdown()
