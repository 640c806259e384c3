"""A scripted agent the test steers through stdin, to walk it through its statuses.

Works under our SDK and hiveloop 0.2.0. Usage: ``python agent_hang.py ENDPOINT KEY ID``;
then, one line each on stdin:

``start``   open a task that hangs (heartbeats go on: the work is wedged, not the process)
``release`` let the task finish, deliver everything, print ``released``
``exit``    ``os._exit(0)``: the process vanishes without ``shutdown``, as a crash would

Heartbeats every second, stuck threshold three seconds, so the whole walk takes ~10 s.
"""

import os
import sys
import threading
import time

import hiveloop

endpoint, api_key, agent_id = sys.argv[1], sys.argv[2], sys.argv[3]
hb = hiveloop.init(api_key=api_key, endpoint=endpoint, environment="e2e", flush_interval=0.1)
agent = hb.agent(agent_id, heartbeat_interval=1, stuck_threshold=3)
print("registered", flush=True)

release = threading.Event()


def hang():
    with agent.task(f"{agent_id}-hang", type="wedged"):
        release.wait(120)


worker = threading.Thread(target=hang)
for line in sys.stdin:
    command = line.strip()
    if command == "start":
        worker.start()
        print("started", flush=True)
    elif command == "release":
        release.set()
        worker.join(30)
        hiveloop.flush()
        time.sleep(0.5)  # 0.2.0's flush does not wait for delivery
        print("released", flush=True)
    elif command == "exit":
        os._exit(0)
