"""Talking to the Kubernetes API: the counted client (``client``), the only spelling of our group, plurals,
labels and annotations (``resources``), status conditions (``conditions``), Events (``events``), the
leader Lease (``leader``), and an in-memory API for unit tests (``fake``)."""
