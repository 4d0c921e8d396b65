"""The deterministic demo region: a city modelled on the seeds, with its grids, organizations,
service areas and links, loaded in bulk (``load_demo``)."""

from gridweave.demo.generator import DemoSummary, Scale, load_demo, summarize

__all__ = ["DemoSummary", "Scale", "load_demo", "summarize"]
