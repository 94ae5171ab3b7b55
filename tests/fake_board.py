"""A process that plays a board's side of the live-console protocol
(docs/protocol.md, "Live consoles") on the master side of a pseudo-terminal,
so utoe's serial runner can be tested end to end through pyserial on the
slave device (/dev/pts/N), as it would talk to /dev/ttyACM0.

The evaluation itself is real: on every 'start <id>' it runs a firmware
built for this host (utoe's host harness) and sends its log back, the way a
board's firmware would print it. What a real wire does to it is scripted:

    --noise         boot banner and garbage bytes before 'utoe: ready'
    --drop N        the N-th line of the first run's log never arrives
    --drop-every N  the N-th line of every run never arrives
    --garble N      the N-th line of the first run arrives corrupted
    --boot S        still booting for S seconds: what the runner sends then is
                    lost (the start sent as the port opened), then 'ready'
    --quiet-boot    no 'ready' line at boot (printed before the port was
                    opened): the runner must start the board anyway
    --mute          never answer (a board without this firmware)
    --chunk N       write in pieces of N bytes with pauses (line splitting)

    python3 tests/fake_board.py --fd 5 --firmware build/native/sinus/firmware.elf --noise --drop 4

It exits when the terminal closes or on SIGTERM. Every start line it receives
is appended to --journal, so tests can count the runs."""

import argparse
import os
import select
import subprocess
import sys
import time

BANNER = [b"\x00\xff\xfe\x13 garbage from reset \x80\x81",
          b"main(): This is RIOT! (Version: 2026.01-fake)",
          b"NETOPT: unsupported option 42"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fd", type=int, required=True, help="master side of the pty")
    ap.add_argument("--firmware", required=True)
    ap.add_argument("--board", default="native")
    ap.add_argument("--model", default="sinus")
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("--drop", type=int, default=None)
    ap.add_argument("--drop-every", type=int, default=None)
    ap.add_argument("--garble", type=int, default=None)
    ap.add_argument("--boot", type=float, default=0.0)
    ap.add_argument("--quiet-boot", action="store_true")
    ap.add_argument("--mute", action="store_true")
    ap.add_argument("--chunk", type=int, default=0)
    ap.add_argument("--journal", default=None)
    a = ap.parse_args()
    fd = a.fd

    def send(data):
        if a.chunk:
            for i in range(0, len(data), a.chunk):
                os.write(fd, data[i:i + a.chunk])
                time.sleep(0.001)
        else:
            os.write(fd, data)

    ready = f"utoe: ready board={a.board} model={a.model}\n".encode()
    booted = time.monotonic() + a.boot
    while time.monotonic() < booted:  # in reset: input is lost
        r, _, _ = select.select([fd], [], [], max(0.0, booted - time.monotonic()))
        if r:
            os.read(fd, 1024)
    if a.noise:
        send(b"\r\n".join(BANNER) + b"\r\n")
    if not a.quiet_boot and not a.mute:
        send(ready)
    runs = 0
    buf = b""
    while True:
        try:
            r, _, _ = select.select([fd], [], [], 1.0)
            if not r:
                continue
            data = os.read(fd, 1024)
        except OSError:
            return 0
        if not data:
            return 0
        buf += data
        *lines, buf = buf.replace(b"\r", b"\n").split(b"\n")
        for line in lines:
            line = line.strip().decode(errors="replace")
            if not line.startswith("start "):
                continue
            if a.journal:
                with open(a.journal, "a") as j:
                    j.write(line + "\n")
            if a.mute:
                continue
            run_id = line.split()[1]
            out = subprocess.run([a.firmware], capture_output=True).stdout
            log = out.split(b"\n")
            drop = a.drop_every or (a.drop if runs == 0 else None)
            if drop is not None and drop < len(log):
                del log[drop]
            if a.garble is not None and runs == 0:
                log[a.garble] = log[a.garble][:12] + b"\xff#\x00" + log[a.garble][15:]
            send(f"utoe: start run={run_id}\r\n".encode() + b"\r\n".join(log) + ready)
            runs += 1


if __name__ == "__main__":
    sys.exit(main())
