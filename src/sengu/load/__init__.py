"""Load testing and capacity planning: scenarios from access logs, open-model load, knees, pods needed."""
