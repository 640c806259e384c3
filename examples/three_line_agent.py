"""The smallest useful instrumentation: presence and heartbeats.

HIVELOOP_API_KEY=hb_live_... HIVELOOP_ENDPOINT=http://localhost:8080 python three_line_agent.py
"""

import os
import time

import hiveloop

hb = hiveloop.init()  # api_key and endpoint from HIVELOOP_API_KEY / HIVELOOP_ENDPOINT
agent = hb.agent("hello-agent", type="demo", version="1.0.0")

time.sleep(float(os.environ.get("EXAMPLE_RUN_SECONDS", "5")))  # your agent's work
hiveloop.shutdown()
