# ship_tls.sh: HTTPS against a local collector whose certificate is signed by a CA made
# with openssl at test time: delivered with --cacert, refused without (exit 78, nothing
# spent); a TLS handshake failure (a plain-HTTP server) counts as offline.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

if ! command -v openssl >/dev/null 2>&1; then
    fail "openssl is not installed"
    finish
    exit
fi

cd "$T" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=anon-telemetry test CA" \
    -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout srv.key -out srv.csr \
    >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out srv.pem >/dev/null 2>&1
check "test certificates made" test -s srv.pem -a -s ca.pem
cd "$ROOT" || exit 1

start_collector tls --cert "$T/srv.pem" --key "$T/srv.key"
URL=https://127.0.0.1:$PORT/v1

queue 3 tls
ship
check_eq "no --cacert: exit 78 (configuration)" 78 "$rc"
check_match "no --cacert: says why" "certificate" "$err"
check_eq "no --cacert: nothing spent" "3|0|0" \
    "$(q "SELECT count(*), sum(retry_count), count(next_attempt_at) FROM events WHERE status='pending'")"
check_eq "no --cacert: nothing delivered" 0 "$(requests)"

# the trust store is not taken from curl's command-line variables
CURL_CA_BUNDLE=$T/ca.pem ship
check_eq "CURL_CA_BUNDLE is not read: still refused" 78 "$rc"

ship --cacert "$T/ca.pem"
check_eq "--cacert: exit 0" 0 "$rc"
check_eq "--cacert: delivered over TLS" "1|3" "$(requests)|$(q "SELECT count(*) FROM events WHERE status='sent'")"
check_eq "--cacert: envelope intact" 3 "$(py "len(log[0]['env']['events'])")"

# a name that does not match the certificate
queue 1 tls2
URL=https://localhost:$PORT/v1
ship --cacert "$T/ca.pem"
check_eq "wrong host name: refused (78)" 78 "$rc"

# an unreadable --cacert is a configuration problem
URL=https://127.0.0.1:$PORT/v1
ship --cacert "$T/missing.pem"
check_eq "missing --cacert file: 78" 78 "$rc"
check_eq "missing --cacert file: nothing spent" 0 "$(q "SELECT sum(retry_count) FROM events")"

# TLS to a server that does not speak it: a handshake failure is offline (75)
start_collector plain
URL=https://127.0.0.1:$PORT/v1
ship --cacert "$T/ca.pem"
check_eq "TLS handshake fails: offline, exit 75" 75 "$rc"
check_eq "TLS handshake fails: nothing spent" "0|pending" "$(q "SELECT retry_count || '|' || status FROM events WHERE session_id='tls2'")"

finish
