"""MicroK8s: parsing the snap and microk8s CLI outputs, add-on plans, join tokens, node roles and
inventory checks, as plain Python for the microk8s_* modules, the microk8s filters and validate.yml."""
