"""Autonomous runs: plan a goal, run its subtasks in parallel, verify, recover.

``loom run`` builds a :class:`~loom.app.autonomy.orchestrator.Orchestrator`
with live adapters; ``loom replay`` builds the same one with adapters that
answer from the recording (see ``docs/adr/0016-autonomous-runs.md``).
"""
