"""sengu — a platform toolkit for moving a long-lived web service from VMs onto Kubernetes."""

__version__ = "0.1.0"
