#!/bin/sh
# What vitaled sees, with busctl and gdbus: readers, cards, and for each
# card with data its beneficiaries and their rights on DATE (default today).
# Run as root or as a member of the vitaled-clients group.
#
#   sh busctl.sh [YYYY-MM-DD]
set -e
date=${1:-}

busctl --system tree org.vitaled
busctl --system get-property org.vitaled /org/vitaled org.vitaled.Manager1 \
	Version PcscAvailable TrustRoots TrustEarliestExpiry

# "ao 2 "/org/vitaled/readers/1" "/org/vitaled/readers/2"" -> the paths
set -- $(busctl --system call org.vitaled /org/vitaled org.vitaled.Manager1 GetReaders)
shift 2
for reader in "$@"; do
	reader=$(echo "$reader" | tr -d '"')
	echo "$reader:"
	busctl --system get-property org.vitaled "$reader" org.vitaled.Reader1 Id Name Kind State
done

set -- $(busctl --system call org.vitaled /org/vitaled org.vitaled.Manager1 GetCards)
shift 2
for card in "$@"; do
	card=$(echo "$card" | tr -d '"')
	echo "$card:"
	busctl --system get-property org.vitaled "$card" org.vitaled.Card1 \
		State Status StatusReason FormFactor Marker BeneficiaryCount
	if [ "$(busctl --system get-property org.vitaled "$card" org.vitaled.Card1 HasData)" = "b true" ]; then
		gdbus call --system -d org.vitaled -o "$card" -m org.vitaled.Card1.GetAffiliation
		busctl --system --json=pretty call org.vitaled "$card" org.vitaled.Card1 \
			GetBeneficiaries s "$date"
	fi
done
