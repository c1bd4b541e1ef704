package api

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

func (s *server) enroll(w http.ResponseWriter, r *http.Request) {
	// Enrolment is public, so the guard does not throttle it; a source
	// guessing secrets is stopped here like one guessing tokens.
	if wait := s.limiter.Blocked(access.ActorFrom(r.Context()).Source); wait > 0 {
		s.throttled(w, wait)
		return
	}
	var req wire.EnrollRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	switch {
	case req.Secret == "":
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "secret is required"))
		return
	case req.Identity.Platform == "":
		s.fail(w, r, errf(http.StatusBadRequest, "bad_request", "identity.platform is required"))
		return
	}
	if ae := checkCSR(req.CSR); ae != nil {
		s.fail(w, r, ae)
		return
	}
	now := s.now()
	var proof *registry.KeyProof
	if req.Proof != nil {
		// A proof that does not verify is refused rather than ignored: the
		// agent holding an intact state directory should know why it was
		// not recognised.
		dev, serial, err := s.ca.VerifyKeyProof(*req.Proof, []byte(req.CSR), now)
		if err != nil {
			s.fail(w, r, errf(http.StatusForbidden, "bad_proof", "%v", err))
			return
		}
		proof = &registry.KeyProof{DeviceID: dev, Serial: serial}
	}
	res, err := s.reg.Enroll(r.Context(), registry.EnrollInput{
		Secret: req.Secret, Identity: req.Identity, AgentVersion: req.AgentVersion, Proof: proof, Now: now,
	}, s.signer(req.CSR, now))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("device enrolled", "device_id", res.DeviceID, "re_enrolled", res.ReEnrolled, "rule", res.Rule, "hostname", req.Identity.Hostname)
	if res.Rule == registry.RuleConflict {
		s.logger.Warn("identity conflict: enrolment matched a live device; enrolled as a new record", "device_id", res.DeviceID, "conflicts_with", res.Conflicts)
	}
	writeJSON(w, http.StatusCreated, wire.EnrollResponse{
		DeviceID: res.DeviceID, Certificate: string(res.CertPEM), CA: string(s.ca.CertPEM),
		NotAfter: res.NotAfter, ReEnrolled: res.ReEnrolled, CommandKey: s.commandKey(), Rule: res.Rule,
		ProtocolVersion: wire.ProtocolVersion,
	})
}

// commandKey is the public command-signing key every enrolment hands out.
func (s *server) commandKey() string {
	if s.ca.Command == nil {
		return ""
	}
	return s.ca.Command.PublicBase64()
}

// checkCSR refuses a CSR before any transaction so a typo costs no
// enrolment-secret use.
func checkCSR(csrPEM string) *apiError {
	if strings.TrimSpace(csrPEM) == "" {
		return errf(http.StatusBadRequest, "bad_csr", "csr is required")
	}
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errf(http.StatusBadRequest, "bad_csr", "csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return errf(http.StatusBadRequest, "bad_csr", "parse csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return errf(http.StatusBadRequest, "bad_csr", "csr signature: %v", err)
	}
	return nil
}

func (s *server) signer(csr string, now time.Time) registry.Signer {
	return func(deviceID string) ([]byte, *x509.Certificate, error) {
		return s.ca.SignClient([]byte(csr), deviceID, now, pki.ClientValidity)
	}
}

// clientDevice returns the device and certificate serial named by the
// request's client certificate. The TLS layer verifies the chain when the
// listener asks for certificates; the check is repeated here against the
// CA so a listener configured to merely request certificates cannot let a
// foreign one through.
func (s *server) clientDevice(r *http.Request) (device, serial string, ae *apiError) {
	if c, ok := r.Context().Value(deviceKey{}).(clientCert); ok {
		return c.device, c.serial, nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", "", errf(http.StatusUnauthorized, "unauthenticated", "a client certificate from enrolment is required")
	}
	leaf := r.TLS.PeerCertificates[0]
	if len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		leaf = r.TLS.VerifiedChains[0][0]
	}
	if len(r.TLS.PeerCertificates) == 1 {
		// A leaf alone (what agents send) verified before: only the
		// signature check is skipped; revocation is checked per request.
		if id, ok := s.verified.Lookup(leaf, s.now()); ok {
			return s.adopted(r, id, leaf)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: s.ca.Pool(), Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return "", "", errf(http.StatusUnauthorized, "unauthenticated", "client certificate not valid for this collector: %v", err)
	}
	id, err := pki.DeviceID(leaf)
	if err != nil {
		return "", "", errf(http.StatusUnauthorized, "unauthenticated", "%v", err)
	}
	if len(r.TLS.PeerCertificates) == 1 {
		s.verified.Add(leaf, id)
	}
	return s.adopted(r, id, leaf)
}

// adopted is clientDevice's answer for a verified certificate.
func (s *server) adopted(r *http.Request, id string, leaf *x509.Certificate) (device, serial string, ae *apiError) {
	// After a restore, a certificate issued since the backup is adopted
	// here rather than refused as unknown (registry/restore.go); a failure
	// leaves it unknown, refused as before.
	if _, err := s.reg.AdoptAfterRestore(r.Context(), id, leaf, s.now()); err != nil {
		s.logger.Error("adopt certificate after restore", "device", id, "err", err)
	}
	return id, pki.SerialHex(leaf), nil
}

func (s *server) renew(w http.ResponseWriter, r *http.Request) {
	device, serial, ae := s.clientDevice(r)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	var req wire.RenewRequest
	if ae := decodeJSON(w, r, maxJSONBody, &req); ae != nil {
		s.fail(w, r, ae)
		return
	}
	if ae := checkCSR(req.CSR); ae != nil {
		s.fail(w, r, ae)
		return
	}
	now := s.now()
	certPEM, notAfter, err := s.reg.Renew(r.Context(), device, serial, now, s.signer(req.CSR, now))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RenewResponse{Certificate: string(certPEM), NotAfter: notAfter})
}

func (s *server) report(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.ObserveIngest(time.Since(start)) }()
	reject := func(err error) {
		ae := s.fail(w, r, err)
		s.metrics.ReportRejected(ae.code)
	}
	device, serial, ae := s.clientDevice(r)
	if ae != nil {
		reject(ae)
		return
	}
	// Refuse a revoked certificate before reading a body of up to 64 MiB.
	// A small body of known length (every delta, most full reports) is
	// read first: ApplyReport checks the certificate in its transaction
	// anyway, and a second query cost ~4 % of a delta's CPU.
	if r.ContentLength < 0 || r.ContentLength > earlyCertCheckAbove {
		if err := s.reg.CheckCertificate(r.Context(), device, serial); err != nil {
			reject(err)
			return
		}
	}
	if ae := checkJSONType(r); ae != nil {
		reject(ae)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); !strings.EqualFold(strings.TrimSpace(ce), "gzip") {
		reject(errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "reports must be sent with Content-Encoding: gzip"))
		return
	}
	rep, ae := decodeReport(&s.gunzip, http.MaxBytesReader(w, r.Body, s.maxRep), s.maxRep, s.maxDec)
	if ae != nil {
		reject(ae)
		return
	}
	s.metrics.ReportReceived(rep.Kind)
	if err := registry.ValidateReport(rep); err != nil {
		reject(err)
		return
	}
	ack, commands, err := s.reg.CheckInReport(r.Context(), registry.ReportInput{DeviceID: device, CertSerial: serial, Report: rep, Now: s.now()})
	if err != nil {
		reject(err)
		return
	}
	switch ack.Status {
	case wire.AckApplied:
		s.metrics.ReportApplied(rep.Kind)
	case wire.AckResync:
		s.metrics.ReportRejected("resync")
	}
	s.logger.Debug("report", "device_id", device, "kind", rep.Kind, "seq", rep.Seq, "status", ack.Status)
	ack.Schedule = s.schedule
	// The agent moves to this version's reports once it has seen it.
	ack.ProtocolVersion = wire.ProtocolVersion
	if commands {
		ack.Commands = s.pendingCommands(r.Context(), device, serial)
	}
	writeJSON(w, http.StatusOK, ack)
}

// earlyCertCheckAbove is the compressed report size above which the
// certificate is checked before the body is read.
const earlyCertCheckAbove = 64 << 10

// decodeReport reads a gzip-compressed JSON report within the limits of
// gunzippers.read.
func decodeReport(g *gunzippers, body io.Reader, maxCompressed, maxDecompressed int64) (*wire.Report, *apiError) {
	var rep wire.Report
	if ae := g.read(body, "report", maxCompressed, maxDecompressed, func(b []byte) *apiError {
		return unmarshalStrict(b, &rep)
	}); ae != nil {
		return nil, ae
	}
	return &rep, nil
}

// gunzippers keeps gzip readers, and the buffers bodies are inflated into,
// between requests. A new reader allocates and clears ~41 KB (flate's
// window and tables), ~14 µs of a small delta's request, where Reset on
// one kept costs ~1 µs. A new buffer grows by doubling to a full report's
// ~150 KB: inflating one into a kept buffer took 88 µs instead of 190
// (BenchmarkDecodeReport). The readers are klauspost/compress's, whose
// inflate took 190 µs where compress/gzip's took 315. The zero value is
// ready.
type gunzippers struct{ readers, bufs sync.Pool }

// maxKeptBuffer is the largest inflated-body buffer kept for the next
// request: a rare report near the 64 MiB limit does not pin its buffer.
const maxKeptBuffer = 1 << 20

// get is a reader of r's gzip stream, kept or new.
func (g *gunzippers) get(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := g.readers.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			g.readers.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// read inflates a gzip body named what in errors and hands it to decode:
// at most maxCompressed bytes on the wire (the caller's MaxBytesReader
// enforces it too) and maxDecompressed once inflated, so a small gzip bomb
// cannot fill memory. The whole stream is read before decoding so a
// corrupt gzip trailer is caught as bad_gzip rather than half-trusted.
// The inflated bytes are a kept buffer's, reused once decode returns:
// decode must not keep them (strict JSON decoding copies what it keeps).
func (g *gunzippers) read(body io.Reader, what string, maxCompressed, maxDecompressed int64, decode func([]byte) *apiError) *apiError {
	tooBig := func(err error) bool {
		var mbe *http.MaxBytesError
		return errors.As(err, &mbe)
	}
	lr := &io.LimitedReader{R: body, N: maxCompressed + 1}
	zr, err := g.get(lr)
	if err != nil {
		if tooBig(err) || lr.N <= 0 {
			return errf(http.StatusRequestEntityTooLarge, "too_large", "compressed %s over the %d-byte limit", what, maxCompressed)
		}
		return errf(http.StatusBadRequest, "bad_gzip", "body is not gzip: %v", err)
	}
	buf, _ := g.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxKeptBuffer {
			buf.Reset()
			g.bufs.Put(buf)
		}
	}()
	n, err := io.Copy(buf, io.LimitReader(zr, maxDecompressed+1))
	g.readers.Put(zr)
	switch {
	case tooBig(err) || lr.N <= 0:
		return errf(http.StatusRequestEntityTooLarge, "too_large", "compressed %s over the %d-byte limit", what, maxCompressed)
	case n > maxDecompressed:
		return errf(http.StatusRequestEntityTooLarge, "too_large", "decompressed %s over the %d-byte limit", what, maxDecompressed)
	case err != nil:
		return errf(http.StatusBadRequest, "bad_gzip", "corrupt gzip stream: %v", err)
	}
	return decode(buf.Bytes())
}
