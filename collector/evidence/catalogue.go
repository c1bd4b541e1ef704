package evidence

import "strings"

// control is one control id the bundle's files are evidence for.
type control struct {
	ID, Framework, Title string
}

// controls are the ids index.html maps files to: the evidence ids of a
// typical asset and configuration management policy, ISO/IEC 27001:2022
// Annex A, and the SOC 2 common criteria (2017, revised 2022).
func controls() []control {
	const policy, iso, soc = "Asset & configuration management policy", "ISO/IEC 27001:2022", "SOC 2"
	return []control{
		{"INV-01", policy, "Asset inventory, complete and reconciled with the register"},
		{"CFG-01", policy, "Configuration baselines defined and applied"},
		{"CFG-02", policy, "Configuration drift detected and handled"},
		{"A.5.9", iso, "Inventory of information and other associated assets"},
		{"A.5.11", iso, "Return of assets"},
		{"A.5.18", iso, "Access rights"},
		{"A.7.14", iso, "Secure disposal or re-use of equipment"},
		{"A.8.1", iso, "User endpoint devices"},
		{"A.8.8", iso, "Management of technical vulnerabilities"},
		{"A.8.9", iso, "Configuration management"},
		{"CC6.1", soc, "Logical access security: asset inventory and protection of information assets"},
		{"CC6.2", soc, "Registration and authorisation of users"},
		{"CC6.3", soc, "Role-based access, its changes and removal"},
		{"CC6.5", soc, "Disposal of assets: data made unrecoverable"},
		{"CC6.7", soc, "Information protected in transit and at rest on endpoints (encryption)"},
		{"CC7.1", soc, "Detection of configuration changes and vulnerabilities"},
		{"CC8.1", soc, "Changes authorised, recorded and traceable"},
	}
}

// fileDoc describes a file of the bundle, or with a trailing '/' every
// file under a folder.
type fileDoc struct {
	Name, What string
	Controls   []string
}

func catalogue() []fileDoc {
	return []fileDoc{
		{"index.html", "This page: the period, what each file is, the controls it evidences, the compliance charts and the verification results.", nil},
		{"inventory/devices.csv", "The device inventory at the period's end (devices first seen before it), as recorded at export: hardware identity, OS and build, disk encryption, state, first and last seen, and the linked asset with its owner.", []string{"INV-01", "A.5.9", "A.8.1", "CC6.1", "CC6.7"}},
		{"inventory/devices.json", "The same inventory as JSON, with every field the API gives for a device.", []string{"INV-01", "A.5.9", "A.8.1", "CC6.1"}},
		{"inventory/device-changes.csv", "Every change agents reported during the period: software added, removed or upgraded, OS upgrades, encryption turned off, identity changes.", []string{"CFG-02", "A.8.9", "CC7.1", "CC8.1"}},
		{"inventory/events.csv", "The drift and compliance events raised during the period (what webhooks and alerts carried).", []string{"CFG-02", "A.8.8", "CC7.1"}},
		{"register/assets.csv", "The fixed-asset register at export, in the register's own CSV format.", []string{"INV-01", "A.5.9", "CC6.1"}},
		{"register/assets.json", "The register as JSON, with each asset's linked device and flags.", []string{"INV-01", "A.5.9"}},
		{"register/changes.csv", "Register history during the period: assets added and changed, status changes (offboarding, disposal), links made and removed, with who made them.", []string{"INV-01", "A.5.9", "A.5.11", "CC8.1"}},
		{"register/reconciliation.json", "The register reconciled with the fleet at export: matched, unregistered devices, missing assets, devices whose asset is not in service, mismatches.", []string{"INV-01", "A.5.9", "CC6.1"}},
		{"compliance/policies.json", "The baseline: the policy set in force with every policy's rule, scope and severity, and the history of policy sets with who loaded them.", []string{"CFG-01", "A.8.9", "A.8.8", "CC7.1", "CC8.1"}},
		{"compliance/states-at-start.csv", "Each device's status for each policy at the period's start, and since when.", []string{"CFG-01", "A.8.1", "A.8.9", "CC6.7", "CC7.1"}},
		{"compliance/transitions.csv", "Every change of a device's status for a policy during the period (\"removed\": the device left the policy's scope).", []string{"CFG-01", "CFG-02", "A.8.1", "A.8.8", "A.8.9", "CC6.7", "CC7.1"}},
		{"compliance/daily-rates.csv", "The share of in-scope devices compliant each day, per policy and for the fleet (a device counted once, by its worst status).", []string{"CFG-01", "A.8.8", "A.8.9", "CC7.1"}},
		{"exceptions/exceptions.csv", "The exceptions in force at any time during the period: reason, compensating control, requester, approver, expiry and revocation.", []string{"CFG-01", "A.8.9", "CC7.1", "CC8.1"}},
		{"sanitisation/wipes.json", "The wipes completed during the period, with every step of their lifecycle and who took it.", []string{"A.5.11", "A.7.14", "CC6.5"}},
		{"sanitisation/certificates/", "A certificate of sanitisation (NIST SP 800-88 appendix G) per wipe completed during the period, signed by the collector's key; check one alone with rosterctl offboard verify-certificate.", []string{"A.7.14", "A.5.11", "CC6.5"}},
		{"access/review.json", "The access review: every principal with role, creator, last use and tokens (expiry, last use, revocation), and the principal and token changes during the period.", []string{"A.5.18", "CC6.2", "CC6.3"}},
		{"access/principals.csv", "The same principals and tokens as a table.", []string{"A.5.18", "CC6.2", "CC6.3"}},
		{"audit/log.jsonl", "The audit log for the period, one entry per line, hash-chained: every change by a person, token, device or the collector, and every denied request.", []string{"CC8.1", "CC6.1", "A.5.18", "A.8.9"}},
		{"audit/checkpoints.json", "The collector's signed checkpoints of the chain's head that fall within the slice, and the first after it.", []string{"CC8.1"}},
		{"audit/verification.json", "The verification of the whole audit chain at export, and of this slice on its own.", []string{"CC8.1"}},
	}
}

// docFor returns the description of a file name.
func docFor(name string) (fileDoc, bool) {
	for _, d := range catalogue() {
		if d.Name == name || strings.HasSuffix(d.Name, "/") && strings.HasPrefix(name, d.Name) {
			return d, true
		}
	}
	return fileDoc{}, false
}
