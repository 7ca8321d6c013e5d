"""Daily tasks: the list built from the plan and pathways, completion, reassignment, carry-over."""
