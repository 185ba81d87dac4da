"""Network discovery and connection testing, as in the documents' "Network Configuration".

Runs on one machine: it starts a head on 127.0.0.1 (free ports), finds it with a
discovery probe, tests the connection and asks for free ports. On a real network,
leave broadcast_address out (every interface's broadcast address) or give yours,
e.g. "192.168.1.255", and start the head with host="0.0.0.0".
"""

from pycluster import HeadNode, NetworkDiscovery

head = HeadNode(
    "discovery-demo", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, discovery_port=0
)
head.start()
info = head.get_connection_info()

discovery = NetworkDiscovery(discovery_port=info["discovery_port"])
for cluster in discovery.discover_clusters_broadcast(timeout=1, broadcast_address="127.0.0.1"):
    print(f"Found cluster {cluster['cluster_name']!r} at {cluster['host']}")
    print(f"Scheduler: {cluster['scheduler_address']}")
    print(f"Dashboard: {cluster['dashboard_url']}")

results = discovery.test_connection(info["scheduler_address"])
print(f"Scheduler reachable: {results['scheduler_reachable']}")
print(f"Dashboard reachable: {results['dashboard_reachable']}")
print(f"Can connect: {results['can_connect']}")

print(f"Use these ports: {discovery.get_recommended_ports(start_port=8800)}")
head.shutdown()
