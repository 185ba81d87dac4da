"""minimalcluster's Example 2: factorise 5,000 large numbers (the original's code, fixed typo)."""

import os

from pycluster.minimal import MasterNode

master = MasterNode(
    HOST=os.environ.get("MASTER_HOST", "127.0.0.1"),
    PORT=int(os.environ.get("MASTER_PORT", "0")),
    AUTHKEY=os.environ.get("MASTER_AUTHKEY", "change-me-to-a-long-random-secret"),
)
master.start_master_server()

envir_statement = """
# A naive factorization method. Take integer 'n', return list of factors.
# Ref: https://eli.thegreenplace.net/2012/01/24/distributed-computing-in-python-with-multiprocessing
def example_factorize_naive(n):
    if n < 2:
        return []
    factors = []
    p = 2
    while True:
        if n == 1:
            return factors
        r = n % p
        if r == 0:
            factors.append(p)
            n = n / p
        elif p * p >= n:
            factors.append(n)
            return factors
        elif p > 2:
            p += 2
        else:
            p += 1
    assert False, "unreachable"
"""


# Create N large numbers to factorize.
def make_nums(N):
    nums = [999999999999]
    for i in range(N):  # noqa: B007 (the original's code, as written)
        nums.append(nums[-1] + 2)
    return nums


master.load_args(make_nums(int(os.environ.get("FACTORIZE_N", "5000"))))
master.load_envir(envir_statement, from_file=False)
master.register_target_function("example_factorize_naive")

result = master.execute()

for x in list(result.items())[:10]:
    print(x)
master.shutdown()
