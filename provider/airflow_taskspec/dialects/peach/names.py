"""The names PEACH gives its loops, needed to find a DAG's group without loading the rest of the dialect."""

METADATA = "metadata"
"""The loop shared by every organisation, and the group key of every PEACH file."""
DAG_PREFIX = "peach."
"""DAG ids: ``peach.<codops>`` for an organisation's loop, ``peach.metadata`` for the metadata loop."""
