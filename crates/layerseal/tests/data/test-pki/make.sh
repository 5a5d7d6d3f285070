#!/bin/sh
# Regenerates the test PKI the signature tests use (test material only;
# the files are committed so `cargo test` needs no openssl).
#   ca          P-256 root CA "layerseal test CA"
#   inter       intermediate CA under ca
#   rsa         RSA-2048 code signer under ca (also as PKCS#1, encrypted PKCS#8)
#   p256        P-256 code signer under ca (key as SEC1 "EC PRIVATE KEY")
#   p384        P-384 code signer under ca
#   chained     P-256 signer under inter; chained.pem = leaf + inter
#   expired     rsa's key, valid 2020-01-01..2021-01-01, under ca
#   impostor    same subject name as rsa, self-signed, another key
#   server      rsa's key, extended key usage serverAuth only
set -eu
cd "$(dirname "$0")"
rm -f ./*.pem ./*.key ./*.srl index.txt* serial* ./*.cnf
days=36500
cat > leaf.cnf <<CNF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
CNF
cat > ca.cnf <<CNF
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
CNF
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$1" -out "$2"; }
ec P-256 ca.key
openssl req -x509 -new -key ca.key -subj "/CN=layerseal test CA" -days $days \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature -out ca.pem
issue() { # name subject issuer extfile
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days $days \
    -extfile "$4" -out "$1.pem"
  rm -f "$1.csr"
}
ec P-256 inter.key; issue inter "layerseal test intermediate" ca ca.cnf
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
issue rsa "layerseal test signer" ca leaf.cnf
openssl pkey -in rsa.key -traditional -out rsa-pkcs1.key
openssl pkcs8 -topk8 -in rsa.key -v2 aes-256-cbc -passout pass:layerseal-test -out rsa-encrypted.key
ec P-256 p256.key; issue p256 "layerseal test signer p256" ca leaf.cnf
openssl ec -in p256.key -out p256-sec1.key
ec P-384 p384.key; issue p384 "layerseal test signer p384" ca leaf.cnf
ec P-256 chained.key; issue chained "layerseal test signer via intermediate" inter leaf.cnf
cat inter.pem >> chained.pem
# Expired: openssl ca takes explicit dates.
mkdir -p ca-db; : > ca-db/index.txt; echo 1000 > ca-db/serial
cat > expired.cnf <<CNF
[ca]
default_ca=t
[t]
database=ca-db/index.txt
serial=ca-db/serial
new_certs_dir=ca-db
default_md=sha256
policy=p
copy_extensions=none
x509_extensions=ext
[p]
commonName=supplied
[ext]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
CNF
openssl req -new -key rsa.key -subj "/CN=layerseal test signer" -out expired.csr
openssl ca -batch -config expired.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
  -startdate 20200101000000Z -enddate 20210101000000Z -notext -out expired.pem 2>/dev/null
cp rsa.key expired.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out impostor.key
openssl req -x509 -new -key impostor.key -subj "/CN=layerseal test signer" -days $days \
  -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=codeSigning -out impostor.pem
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > server.cnf
cp rsa.key server.key; issue server "layerseal test signer" ca server.cnf
rm -rf ca-db expired.csr ./*.cnf ./*.srl
