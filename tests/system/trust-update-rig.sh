#!/bin/sh
# Run inside the booted container by test-unit-container.sh: what a trust
# list issuer and its web server are for the trust updater's checks.  A
# trust-list root (pinned by the admin) and a signer, made with openssl; a
# bundle of the trust directory in force, built by the packaged
# vitaled-trust-bundle; an HTTPS server (its own CA) at https://trust.test:8443
# serving it; the updater's [TrustUpdate] pointed there.  Prints nothing
# on success.
set -eu
d=/root/t/tl
mkdir -p "$d/www"
cd "$d"
cat > ext.cnf <<'CNF'
[ req ]
distinguished_name = dn
[ dn ]
[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ signer ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tls ]
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:trust.test
extendedKeyUsage = serverAuth
CNF
# issued NAME CA EXTENSIONS SUBJECT: a P-256 key and its certificate
issued() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
	if [ "$2" = self ]; then
		openssl req -new -x509 -key "$1.key" -subj "$4" -days 30 -config ext.cnf \
			-extensions "$3" -out "$1.pem"
	else
		openssl req -new -key "$1.key" -subj "$4" -config ext.cnf -out "$1.csr"
		openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$5" \
			-days 30 -extfile ext.cnf -extensions "$3" -out "$1.pem" 2>/dev/null
	fi
}
issued list-root self ca "/O=vitaled test/CN=trust list root"
issued list-signer list-root signer "/O=vitaled test/CN=trust list signer" 2
issued web-ca self ca "/O=vitaled test/CN=web CA"
issued web web-ca tls "/O=vitaled test/CN=trust.test" 3
install -D -m 0644 list-root.pem /etc/vitaled/trust-list-root.d/list-root.pem
install -m 0644 web-ca.pem /etc/vitaled/update-ca.pem
vitaled-trust-bundle --version 1 --expires @4102444800 --signer list-signer.pem \
	--key list-signer.key /etc/vitaled/trust.d www/current.bundle
grep -q trust.test /etc/hosts || echo "127.0.0.1 trust.test" >> /etc/hosts
printf '[TrustUpdate]\nURL = https://trust.test:8443/current.bundle\nCAFile = /etc/vitaled/update-ca.pem\n' \
	> /etc/vitaled/vitaled.conf.d/60-update.conf
cat > serve.py <<'PY'
import http.server, ssl
httpd = http.server.HTTPServer(("127.0.0.1", 8443), lambda *a: http.server.SimpleHTTPRequestHandler(
    *a, directory="/root/t/tl/www"))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/root/t/tl/web.pem", "/root/t/tl/web.key")
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
PY
