"""Pure policy logic shared by the gateway and the policy worker: rule models, compiled policies,
evaluation, detectors, budgets and windows. No I/O; nothing here imports gateway or consumer code."""
