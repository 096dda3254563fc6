#!/usr/bin/python3
"""The classic way to serve the same menu: one AGI process per call (Asterisk's AGI() forks
and execs this script, talking AGI over stdin/stdout). The comparison point for bench/load.py.

Same commands per call as the engine on dialplans/minimal.yaml: set the language, play the menu
prompt with every key as an escape, wait for a key (3 s, 2 retries), music on hold, ring an
agent, read DIALSTATUS, mark the call done, and write one call record (a CSV line).
No ACD: the agent is picked round-robin from the call's id sequence (a000…).

Installed by bench/load.py into the sandbox chroot's /usr/share/asterisk/agi-bin/.
Dialplan: AGI(agi_classic.py,<prompt>,<agents>,<ring seconds>,<record file>)
Stdlib only (it runs on the chroot's python3).
"""
import os
import signal
import sys
import time

OPTIONS = {"1": "orders", "0": "operator", "9": "safety"}
KEYS = "0123456789*#"


def main() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)     # AGISIGHUP: we notice 511/-1 instead
    env = {}
    while True:
        line = sys.stdin.readline()
        if not line or line == "\n":
            break
        key, _, value = line.partition(":")
        env[key.strip()] = value.strip()
    prompt, agents, ring, record_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    def cmd(text: str) -> tuple[int, str]:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        reply = sys.stdin.readline()
        while reply.startswith("HANGUP"):
            reply = sys.stdin.readline()
        if not reply.startswith("200"):
            raise SystemExit(f"AGI said {reply.strip()!r} to {text!r}")
        part = reply.split("result=", 1)[1].split(" ", 1)
        data = part[1].strip() if len(part) > 1 else ""
        return int(part[0]), data

    started = time.time()
    route, pressed, status = "operator", "", ""
    try:
        cmd('SET VARIABLE CHANNEL(language) "fr"')
        for _ in range(3):
            result, _ = cmd(f'STREAM FILE {prompt} "{KEYS}"')
            if result == 0:
                result, _ = cmd("WAIT FOR DIGIT 3000")
            if result < 0:
                raise SystemExit("caller hung up")
            if result > 0:
                pressed = chr(result)
                if pressed in OPTIONS:
                    route = OPTIONS[pressed]
                    break
        cmd('EXEC StartMusicOnHold "default"')
        sequence = env.get("agi_uniqueid", "0").rsplit(".", 1)[-1]
        agent = f"a{int(sequence or 0) % agents:03d}"
        cmd("EXEC StopMusicOnHold")
        cmd(f'EXEC Dial "PJSIP/{agent},{ring}"')
        _, data = cmd("GET VARIABLE DIALSTATUS")
        status = data.strip("()")
        cmd('SET VARIABLE IVR_DONE "1"')
    finally:
        line = (f"{env.get('agi_uniqueid', '')},{env.get('agi_callerid', '')},{pressed},{route},"
                f"{status},{time.time() - started:.3f}\n")
        fd = os.open(record_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line.encode())
        os.close(fd)


if __name__ == "__main__":
    main()
