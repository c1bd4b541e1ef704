package registry

// The certificate of sanitisation: NIST SP 800-88 Rev. 1 appendix G's
// sample certificate as data, filled from a completed wipe request. The
// API signs it and renders it; the registry only gathers the facts.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// CertificateStandard names what the certificate follows.
const CertificateStandard = "NIST SP 800-88 Rev. 1, Appendix G: Certificate of Sanitization"

// SanitisationCertificate is the certificate's content (stable JSON keys;
// the signature covers their compact encoding in this order).
type SanitisationCertificate struct {
	Standard string    `json:"standard"`
	IssuedAt time.Time `json:"issued_at"`
	// Media: appendix G "Media Information".
	Manufacturer   string `json:"manufacturer"`
	Model          string `json:"model"`
	SerialNumber   string `json:"serial_number"`
	PropertyNumber string `json:"property_number"`
	MediaType      string `json:"media_type"`
	// MediaSource is the user or computer the media came from.
	MediaSource string `json:"media_source"`
	// PreSanitisationConfidentiality is the asset's classification.
	PreSanitisationConfidentiality string `json:"pre_sanitisation_confidentiality"`
	// Sanitisation details.
	SanitisationDescription string `json:"sanitisation_description"`
	Method                  string `json:"method"`
	MethodDetails           string `json:"method_details"`
	Tool                    string `json:"tool"`
	ToolVersion             string `json:"tool_version"`
	VerificationMethod      string `json:"verification_method"`
	// PostSanitisationDestination: decommissioned (disposal) or internal
	// reuse.
	PostSanitisationDestination string `json:"post_sanitisation_destination"`
	PerformedBy                 Person `json:"performed_by"`
	VerifiedBy                  Person `json:"verified_by"`
	// Volumes are the agent's per-volume results (none for a manual wipe).
	Volumes []wire.WipedVolume `json:"volumes"`
	// Roster's own references.
	AssetID        string     `json:"asset_id"`
	DeviceID       string     `json:"device_id"`
	WipeRequestID  string     `json:"wipe_request_id"`
	Ticket         string     `json:"ticket"`
	Reason         string     `json:"reason"`
	State          string     `json:"state"`
	CompletedAt    time.Time  `json:"completed_at"`
	VerifiedAt     *time.Time `json:"verified_at"`
	Verification   string     `json:"verification"`
	EvidenceSHA256 string     `json:"evidence_sha256"`
	// VerificationBasis says what a verification by re-enrolment rests
	// on: the self-reported hardware identity, the OS install date, and
	// the continuity rule that let the enrolment continue the device.
	VerificationBasis []string `json:"verification_basis,omitempty"`
	// SinglePersonOperation is set when the manual record relied on the
	// collector's offboarding.allow_single_person: one person held duties
	// that are otherwise two people's. SinglePersonDetail says which.
	SinglePersonOperation bool   `json:"single_person_operation"`
	SinglePersonDetail    string `json:"single_person_detail"`
}

// Person signs a step of the sanitisation.
type Person struct {
	Name     string    `json:"name"`
	Date     time.Time `json:"date"`
	Location string    `json:"location"`
}

// WipeCertificate gathers the certificate of a completed or verified wipe;
// any other state is a conflict.
func (r *Registry) WipeCertificate(ctx context.Context, id string, now time.Time) (SanitisationCertificate, error) {
	w, err := r.Wipe(ctx, id)
	if err != nil {
		return SanitisationCertificate{}, fmt.Errorf("certificate: %w", err)
	}
	if (w.State != WipeCompleted && w.State != WipeVerified) || w.CompletedAt == nil {
		return SanitisationCertificate{}, fmt.Errorf("certificate: %w", ErrWipeConflict.Errorf("wipe %s is %s; a certificate needs it completed or verified", w.ID, w.State))
	}
	ev, _, err := r.WipeEvidence(ctx, id)
	if err != nil {
		return SanitisationCertificate{}, fmt.Errorf("certificate: %w", err)
	}
	c := SanitisationCertificate{
		Standard: CertificateStandard, IssuedAt: now.UTC(),
		Manufacturer: w.Vendor, Model: w.Model, SerialNumber: w.SystemSerial, PropertyNumber: w.AssetTag,
		PreSanitisationConfidentiality: orDefault(w.Classification, "unclassified in the register"),
		SanitisationDescription:        "Purge",
		Method:                         orDefault(w.WipeMethod, "recorded by hand"),
		Tool:                           w.Tool, ToolVersion: w.ToolVersion,
		PostSanitisationDestination: "decommissioned (for disposal)",
		PerformedBy:                 Person{Name: w.PerformedBy, Date: *w.CompletedAt, Location: w.location},
		VerifiedBy:                  Person{Name: w.VerifiedBy, Date: *w.CompletedAt, Location: w.location},
		Volumes:                     []wire.WipedVolume{},
		AssetID:                     w.AssetID, DeviceID: w.DeviceID, WipeRequestID: w.ID, Ticket: w.Ticket, Reason: w.Reason,
		State: w.State, CompletedAt: *w.CompletedAt, VerifiedAt: w.VerifiedAt, Verification: w.Verification, EvidenceSHA256: w.EvidenceSHA256,
		SinglePersonOperation: w.SinglePerson != "", SinglePersonDetail: w.SinglePerson,
	}
	if w.Reuse {
		c.PostSanitisationDestination = "internal reuse (back in stock)"
	}
	var src []string
	if w.owner != "" {
		src = append(src, "user "+w.owner)
	}
	if w.Hostname != "" {
		src = append(src, "computer "+w.Hostname)
	}
	c.MediaSource = orDefault(strings.Join(src, ", "), "organisation asset "+w.AssetTag)
	if w.Method == WipeMethodAgent {
		var e wire.WipeEvidence
		if json.Unmarshal(ev, &e) == nil && len(e.Volumes) > 0 {
			c.Volumes = e.Volumes
			c.MediaType = fmt.Sprintf("LUKS%d-encrypted block device", e.Volumes[0].LUKSVersion)
			c.Method = "Cryptographic Erase (" + orDefault(e.Method, "NIST SP 800-88 purge: cryptographic erase") + ")"
			c.MethodDetails = "every LUKS keyslot destroyed, so the media encryption key can no longer be recovered: " + volumeSummary(&e)
			c.VerificationMethod = "LUKS header read back after the erase: no active keyslot left on any volume"
		}
	} else {
		c.MediaType = "as recorded by the technician"
		c.MethodDetails = "wiped outside the agent and recorded with its evidence"
		c.VerificationMethod = "verified by " + w.VerifiedBy + " (manual record)"
	}
	if c.VerifiedAt != nil {
		c.VerificationMethod += "; confirmed by a fresh installation: " + w.Verification
		var basis string
		if err := r.db.QueryRowContext(ctx, `SELECT verification_basis FROM wipe_requests WHERE id = $1`, w.ID).Scan(&basis); err != nil {
			return SanitisationCertificate{}, fmt.Errorf("certificate: read verification basis: %w", err)
		}
		if basis != "" {
			if err := json.Unmarshal([]byte(basis), &c.VerificationBasis); err != nil {
				return SanitisationCertificate{}, fmt.Errorf("certificate: verification basis: %w", err)
			}
		}
	}
	return c, nil
}
