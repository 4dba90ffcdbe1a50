# /etc/cron.d/anon-telemetry: ships the system spool every 10 minutes on a host that does
# not run systemd. Under systemd, anon-telemetry-ship.timer does that job and this line
# does nothing. Messages go to syslog; exit 75 (events still pending: offline, or the
# collector asked to retry later) is the normal state of a host without a link.
# Stop the job: comment the line out (this file is a conffile: it stays as you leave it).
SHELL=/bin/sh
PATH=/usr/bin:/bin

*/10 * * * * anon-telemetry [ ! -d /run/systemd/system ] && [ -x /usr/bin/anon-telemetry-ship ] && /usr/bin/anon-telemetry-ship --spool /var/spool/anon-telemetry/spool.db --syslog
