#!/bin/sh
# mkpki.sh OUTDIR [--demo]
#
# Makes the test PKI of the vitaled open profile with the `openssl` command, at
# test time (no private key is ever committed). Layout (see tests/pki/README.md):
#
#   OUTDIR/trust.d/    what the daemon loads (--trust-dir):
#                      root.pem, ds-*.pem (trusted signers), root.crl, opposition.txt
#   OUTDIR/private/    what the test generators sign with: *.key (PEM PKCS#8),
#                      *.pem (certs), including the foreign root and its signer,
#                      which are deliberately NOT in trust.d
#
# --demo makes the separate demo PKI (its own root, one ES256 signer) in OUTDIR.
#
# Idempotent and cached: a finished OUTDIR carries a stamp and is reused as is;
# concurrent callers serialise on a lock and the tree is built in a temporary
# directory renamed into place, so a reader never sees half a PKI.
set -eu

PKI_VERSION=1

usage() { echo "usage: $0 OUTDIR [--demo]" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$1
kind="test"
[ $# -ge 2 ] && { [ "$2" = --demo ] || usage; kind=demo; }
[ $# -le 2 ] || usage

stamp="pki-$kind-v$PKI_VERSION"
[ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] && exit 0

mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
[ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] && exit 0

tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/trust.d" "$tmp/private" "$tmp/ca"
p=$tmp/private

ossl() {
	openssl "$@" 2>"$tmp/ossl.err" || { cat "$tmp/ossl.err" >&2; exit 1; }
}

eckey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p/$1.key"; }
rsakey() { ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$p/$1.key"; }

# Signers and CRLs are valid for the whole life of this project's tests;
# tokens take --now anyway.
from=20240101000000Z
until=20491231235959Z

cat >"$tmp/ca/ext.cnf" <<'EOF'
[ root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ signer ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# A root: self-signed, with its own `openssl ca` database so it can sign
# signers with chosen dates, revoke them and issue a CRL.
# mkroot NAME CN
mkroot() {
	eckey "$1"
	d=$tmp/ca/$1
	mkdir -p "$d/new"
	: >"$d/index.txt"
	echo 1000 >"$d/serial"
	echo 1000 >"$d/crlnumber"
	cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = this
[ this ]
dir = $d
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
crlnumber = $d/crlnumber
certificate = $p/$1.pem
private_key = $p/$1.key
default_md = sha256
default_crl_days = 3650
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[ anything ]
countryName = optional
organizationName = optional
commonName = supplied
EOF
	# Fixed dates (not "now"), so tests may move the clock back to 2020.
	ossl req -new -key "$p/$1.key" -subj "/C=FR/O=vitaled test/CN=$2" \
		-out "$d/root.csr"
	ossl ca -batch -selfsign -config "$d/ca.cnf" -keyfile "$p/$1.key" \
		-in "$d/root.csr" -startdate 20200101000000Z -enddate 20591231235959Z \
		-extfile "$tmp/ca/ext.cnf" -extensions root -notext -out "$p/$1.pem"
}

# mkcrl ROOT: a CRL valid over the same window as the signers.
mkcrl() {
	ossl ca -batch -config "$tmp/ca/$1/ca.cnf" -gencrl \
		-crl_lastupdate $from -crl_nextupdate $until -out "$tmp/trust.d/$1.crl"
}

# mksigner NAME ROOT CN rsa|ec STARTDATE ENDDATE (dates YYYYMMDDHHMMSSZ)
mksigner() {
	if [ "$4" = rsa ]; then rsakey "$1"; else eckey "$1"; fi
	ossl req -new -key "$p/$1.key" -subj "/C=FR/O=vitaled test/CN=$3" \
		-out "$tmp/ca/$1.csr"
	ossl ca -batch -config "$tmp/ca/$2/ca.cnf" -in "$tmp/ca/$1.csr" \
		-startdate "$5" -enddate "$6" -extfile "$tmp/ca/ext.cnf" \
		-extensions signer -notext -out "$p/$1.pem"
}

if [ $kind = test ]; then
	mkroot root "vitaled test issuer root"
	mksigner ds-es256 root "vitaled test DS ES256" ec $from $until
	mksigner ds-ps256 root "vitaled test DS PS256" rsa $from $until
	mksigner ds-expired root "vitaled test DS expired" ec \
		20200101000000Z 20210101000000Z
	mksigner ds-notyet root "vitaled test DS not yet valid" ec \
		20450101000000Z 20491231235959Z
	mksigner ds-revoked root "vitaled test DS revoked" ec $from $until
	ossl ca -batch -config "$tmp/ca/root/ca.cnf" -revoke "$p/ds-revoked.pem" \
		-crl_reason keyCompromise
	mkcrl root

	mkroot foreign-root "vitaled foreign root"
	mksigner ds-foreign foreign-root "vitaled foreign DS" ec $from $until

	# Chip Active Authentication keys (aa-clone plays a cloned chip)
	# and phone holder keys.
	for k in aa-1 aa-2 aa-3 aa-4 aa-clone holder-1 holder-2 holder-3; do
		eckey $k
	done

	for c in root ds-es256 ds-ps256 ds-expired ds-notyet ds-revoked; do
		cp "$p/$c.pem" "$tmp/trust.d/$c.pem"
	done
	cat >"$tmp/trust.d/opposition.txt" <<'EOF'
# vitaled test PKI: card serials declared lost or stolen (one per line)
VTD0000009999
VTP0000009999
EOF
else
	mkroot root "vitaled demo issuer root"
	mksigner ds-es256 root "vitaled demo DS ES256" ec $from $until
	mkcrl root
	for k in aa-1 aa-2 holder-1; do
		eckey $k
	done
	cp "$p/root.pem" "$p/ds-es256.pem" "$tmp/trust.d/"
	printf '# vitaled demo PKI: no card is opposed\n' >"$tmp/trust.d/opposition.txt"
fi

# The `openssl ca` databases and CSRs are build debris, not part of the PKI.
rm -rf "$tmp/ca" "$tmp/ossl.err"
chmod 700 "$p"
echo "$stamp" >"$tmp/.stamp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
