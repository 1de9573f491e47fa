"""localkube: a real Kubernetes on this machine, built from upstream parts (see docs/localkube.md)."""
