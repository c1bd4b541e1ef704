package msi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Signer is the Authenticode identity osslsigncode signs with: a PKCS#12
// file (SIGN_PFX) or a PEM certificate chain and key (the throwaway one).
type Signer struct {
	PFX         string // PKCS#12 file
	PFXPassword string // its password, handed to osslsigncode in a file
	CertChain   string // PEM: the signing certificate, then its issuers
	Key         string // PEM private key
	// TimestampURL is an RFC 3161 server. Empty on offline builds: the
	// signature is then valid only while the certificate is.
	TimestampURL string
}

// Sign writes in, Authenticode-signed, to out. osslsigncode handles both
// PE files and MSI databases (the signature goes in the
// \x05DigitalSignature stream of the MSI).
func (s Signer) Sign(ctx context.Context, r Runner, in, out string) error {
	args := []string{"sign", "-h", "sha256", "-n", "Roster agent", "-i", "https://github.com/rosterhq/roster"}
	switch {
	case s.PFX != "":
		args = append(args, "-pkcs12", s.PFX)
		if s.PFXPassword != "" {
			// A file rather than -pass keeps the password out of ps.
			f, err := os.CreateTemp("", "roster-sign-pass-*")
			if err != nil {
				return fmt.Errorf("sign %s: %w", in, err)
			}
			defer os.Remove(f.Name())
			_, werr := f.WriteString(s.PFXPassword)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return fmt.Errorf("sign %s: write password file: %w", in, werr)
			}
			args = append(args, "-readpass", f.Name())
		}
	case s.CertChain != "" && s.Key != "":
		args = append(args, "-certs", s.CertChain, "-key", s.Key)
	default:
		return fmt.Errorf("sign %s: no signing certificate", in)
	}
	if s.TimestampURL != "" {
		args = append(args, "-ts", s.TimestampURL)
	}
	args = append(args, "-in", in, "-out", out)
	if _, err := r.Run(ctx, "osslsigncode", args...); err != nil {
		return fmt.Errorf("sign %s: %w", in, err)
	}
	return nil
}

// Throwaway is a code-signing identity made for one build: a CA and a
// certificate it issued with the codeSigning extended key usage. Windows
// does not trust it; it proves the signing step works and lets tests
// verify signatures against CAFile.
type Throwaway struct {
	Signer
	CAFile string // PEM CA certificate, for osslsigncode verify -CAfile
	// Fingerprint is the SHA-256 of the signing certificate (DER), hex.
	Fingerprint string
}

// NewThrowaway writes a throwaway CA, signing certificate and key to dir.
func NewThrowaway(dir string, now time.Time) (Throwaway, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Throwaway{}, fmt.Errorf("throwaway signing certificate: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Throwaway{}, fmt.Errorf("throwaway signing certificate: %w", err)
	}
	notBefore, notAfter := now.Add(-time.Hour), now.Add(30*24*time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Roster throwaway code-signing CA", Organization: []string{"Roster (unofficial build)"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Throwaway{}, fmt.Errorf("throwaway signing CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Throwaway{}, fmt.Errorf("throwaway signing CA: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Roster agent (unofficial build)", Organization: []string{"Roster (unofficial build)"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return Throwaway{}, fmt.Errorf("throwaway signing certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Throwaway{}, fmt.Errorf("throwaway signing key: %w", err)
	}
	t := Throwaway{
		Signer: Signer{CertChain: filepath.Join(dir, "signing-chain.pem"), Key: filepath.Join(dir, "signing-key.pem")},
		CAFile: filepath.Join(dir, "signing-ca.pem"),
	}
	sum := sha256.Sum256(leafDER)
	t.Fingerprint = hex.EncodeToString(sum[:])
	files := []struct {
		path   string
		blocks []*pem.Block
		mode   os.FileMode
	}{
		{t.CAFile, []*pem.Block{{Type: "CERTIFICATE", Bytes: caDER}}, 0o644},
		{t.CertChain, []*pem.Block{{Type: "CERTIFICATE", Bytes: leafDER}, {Type: "CERTIFICATE", Bytes: caDER}}, 0o644},
		{t.Key, []*pem.Block{{Type: "PRIVATE KEY", Bytes: keyDER}}, 0o600},
	}
	for _, f := range files {
		var data []byte
		for _, b := range f.blocks {
			data = append(data, pem.EncodeToMemory(b)...)
		}
		if err := os.WriteFile(f.path, data, f.mode); err != nil {
			return Throwaway{}, fmt.Errorf("throwaway signing certificate: %w", err)
		}
	}
	return t, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}
