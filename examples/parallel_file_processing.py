"""Example 1 of the product documentation: process files in parallel.

Writes 100 small CSV files to a temporary folder, then analyses them in parallel.
Run: python examples/parallel_file_processing.py
"""

import csv
import shutil
import statistics
import tempfile
from pathlib import Path

from pycluster import BackendType, DistributedCoordinator, set_backend

# Setup
set_backend(BackendType.MULTIPROCESSING, num_workers=8)
coordinator = DistributedCoordinator()

folder = Path(tempfile.mkdtemp(prefix="pycluster-files-"))
for i in range(1, 101):
    with open(folder / f"file{i}.csv", "w", newline="") as f:
        csv.writer(f).writerows([[i * j] for j in range(1, 1001)])


def load_and_process(filename):
    with open(filename, newline="") as f:
        return [float(row[0]) for row in csv.reader(f)]


def analyze(data):
    return {"rows": len(data), "mean": statistics.fmean(data)}


# Process files in parallel
def process_file(filename):
    # Expensive file processing
    data = load_and_process(filename)
    return analyze(data)


filenames = [str(folder / f"file{i}.csv") for i in range(1, 101)]
results = coordinator.map(process_file, filenames)

print(f"Processed {len(results)} files")
print(f"Mean of file100.csv: {results[-1]['mean']:.1f}")
shutil.rmtree(folder)
