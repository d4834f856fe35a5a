#!/usr/bin/env python3
"""A reference sender for pg_affiliate's outbox (docs/notifications.md).

It shows the loop a real sender runs: LISTEN affiliate_outbox, claim due
messages of its channels (affiliate.claim_outbox: FOR UPDATE SKIP LOCKED, a
lease), "send" each one, then report the outcome (affiliate.mark_sent or
affiliate.mark_failed, which retries with back-off).  This one only prints
what it would send; --fail-every N reports every Nth message as failed, to
show the retries.

It needs nothing but Python 3 and psql (no driver): one psql process is kept
open as a coprocess, so LISTEN stays registered and notifications arrive
with the output of the next statement.

    python3 examples/outbox_sender.py --once                 # against `make demo`
    python3 examples/outbox_sender.py --channels email,sms   # run until ^C
    PGHOST=... PGPORT=... PGUSER=... PGDATABASE=... python3 examples/outbox_sender.py

Connection: the usual PG* environment variables; without them, the demo
cluster of `make demo` (socket /tmp/pg_affiliate_demo, port 54329, database
demo).  Connect as a role that may execute the sender API
(affiliate_operator or a superuser).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import uuid

CHANNELS = ("email", "whatsapp", "sms")


class Psql:
    """One psql session: statements in, unaligned rows out."""

    def __init__(self):
        env = dict(os.environ)
        env.setdefault("PGHOST", os.environ.get("PG_AFFILIATE_DEMO_DIR", "/tmp/pg_affiliate_demo"))
        env.setdefault("PGPORT", os.environ.get("PG_AFFILIATE_DEMO_PORT", "54329"))
        env.setdefault("PGDATABASE", "demo")
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env, bufsize=1)
        self.notifications = []

    def run(self, sql):
        """Run statements; return their output rows (tab-separated fields)."""
        marker = "--done-" + uuid.uuid4().hex
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + marker + "\n")
        self.proc.stdin.flush()
        rows = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == marker:
                return rows
            if line.startswith("Asynchronous notification"):
                self.notifications.append(line)
            elif line.startswith(("ERROR:", "psql:", "FATAL:")):
                raise RuntimeError(line)
            elif line:
                rows.append(line.split("\t"))
        raise RuntimeError("psql ended: is the database reachable? (make demo)")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def claim(db, channel, batch, lease):
    # The claim commits at once: the lease is then visible to every other
    # sender.  Subject and body travel hex-encoded (they may hold tabs and
    # newlines).
    rows = db.run(
        "SELECT program_id, id, member_external_id, event, "
        "       pg_catalog.encode(pg_catalog.convert_to(coalesce(subject, ''), 'UTF8'), 'hex'), "
        "       pg_catalog.encode(pg_catalog.convert_to(body, 'UTF8'), 'hex'), attempts "
        f"FROM affiliate.claim_outbox({quote(channel)}, {int(batch)}, {quote(lease)}::interval)")
    return [{"program_id": int(r[0]), "id": int(r[1]), "to": r[2], "event": r[3],
             "subject": bytes.fromhex(r[4]).decode("utf-8"), "body": bytes.fromhex(r[5]).decode("utf-8"),
             "attempts": int(r[6])} for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", default=",".join(CHANNELS), help="comma-separated: email,whatsapp,sms")
    ap.add_argument("--batch", type=int, default=100, help="rows per claim (1..1000)")
    ap.add_argument("--lease", default="5 minutes", help="how long a claim holds a row")
    ap.add_argument("--poll", type=float, default=60.0,
                    help="seconds between claims without a notification (failed rows come due by time)")
    ap.add_argument("--fail-every", type=int, default=0, help="report every Nth message as failed (0: never)")
    ap.add_argument("--once", action="store_true", help="one pass over the channels, then exit")
    args = ap.parse_args()
    channels = [c for c in args.channels.split(",") if c]
    for c in channels:
        if c not in CHANNELS:
            sys.exit(f"unknown channel {c!r}: senders handle {', '.join(CHANNELS)} (in_app is the inbox)")

    db = Psql()
    db.run("LISTEN affiliate_outbox")
    handled = 0
    try:
        while True:
            for channel in channels:
                while True:
                    rows = claim(db, channel, args.batch, args.lease)
                    for m in rows:
                        handled += 1
                        print(json.dumps({"channel": channel, "to": m["to"], "event": m["event"],
                                          "subject": m["subject"] or None, "body": m["body"],
                                          "attempt": m["attempts"],
                                          "key": f"{m['program_id']}:{m['id']}"}, ensure_ascii=False))
                        if args.fail_every and handled % args.fail_every == 0:
                            status = db.run(f"SELECT affiliate.mark_failed({m['program_id']}, {m['id']}, "
                                            f"{quote('provider timeout (simulated)')})")[0][0]
                            print(f"  -> failed, now {status}", file=sys.stderr)
                        else:
                            db.run(f"SELECT affiliate.mark_sent({m['program_id']}, {m['id']})")
                    if len(rows) < args.batch:
                        break
            if args.once:
                break
            # wait for a NOTIFY (delivered with the next statement's output) or the poll interval
            waited = 0.0
            while waited < args.poll:
                time.sleep(1.0)
                waited += 1.0
                db.run("SELECT 1 WHERE false")
                if db.notifications:
                    print(f"woken by {len(db.notifications)} notification(s)", file=sys.stderr)
                    db.notifications.clear()
                    break
    except KeyboardInterrupt:
        pass
    finally:
        db.close()
    print(f"{handled} message(s) handled", file=sys.stderr)


if __name__ == "__main__":
    main()
