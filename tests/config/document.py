"""The PyCluster v2 document's ``pycluster.yaml``, as printed there: one copy for every config test."""

DOCUMENT_YAML = """\
cluster:
  name: "production-cluster"
  scheduler_port: 8786
  dashboard_port: 8787

gpu:
  memory_fraction: 0.9
  allow_growth: true
  temperature_threshold: 85
  power_limit_threshold: 0.95

llm:
  model_cache_dir: "/models"
  default_precision: "fp16"
  max_concurrent_requests: 100
  request_timeout: 300

monitoring:
  gpu_interval: 1.0
  metrics_retention: 3600
  alert_thresholds:
    gpu_temperature: 80
    gpu_memory: 0.95
    cluster_memory: 0.90
"""
