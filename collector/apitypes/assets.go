package apitypes

// The asset register: assets, imports, register history, flags and the
// reconciliation of the register with the fleet.

import "time"

// Asset is one asset of the register with its linked device and flags.
type Asset struct {
	ID               string        `json:"id"`
	AssetTag         string        `json:"asset_tag"`
	Serial           string        `json:"serial"`
	SerialNormalised string        `json:"serial_normalised"`
	Type             string        `json:"type"`
	Model            string        `json:"model"`
	Owner            string        `json:"owner"`
	OwnerEmail       string        `json:"owner_email"`
	Classification   string        `json:"classification"`
	Location         string        `json:"location"`
	Status           string        `json:"status"`
	PurchaseDate     string        `json:"purchase_date"`
	FixedAssetRef    string        `json:"fixed_asset_ref"`
	Notes            string        `json:"notes"`
	Tags             []string      `json:"tags"`
	CreatedAt        time.Time     `json:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at"`
	Device           *LinkedDevice `json:"device"`
	Flags            []Flag        `json:"flags"`
}

// LinkedDevice is the device an asset is linked to.
type LinkedDevice struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname"`
	LastSeen time.Time `json:"last_seen"`
	LinkedBy string    `json:"linked_by"`
	LinkedAt time.Time `json:"linked_at"`
}

// AssetInput is POST /api/v1/assets (every field) and PATCH /api/v1/assets/{tag} (the fields given): one pointer per field of the register's field table (collector/assetcsv), keyed by its name.
type AssetInput struct {
	AssetTag       *string   `json:"asset_tag"`
	Serial         *string   `json:"serial"`
	Type           *string   `json:"type"`
	Model          *string   `json:"model"`
	Owner          *string   `json:"owner"`
	OwnerEmail     *string   `json:"owner_email"`
	Classification *string   `json:"classification"`
	Location       *string   `json:"location"`
	Status         *string   `json:"status"`
	PurchaseDate   *string   `json:"purchase_date"`
	FixedAssetRef  *string   `json:"fixed_asset_ref"`
	Notes          *string   `json:"notes"`
	Tags           *[]string `json:"tags"`
}

// ImportResult is what POST /api/v1/assets/import changed, or would change on a dry run.
type ImportResult struct {
	DryRun       bool          `json:"dry_run"`
	Created      []AssetChange `json:"created"`
	Updated      []AssetChange `json:"updated"`
	Unchanged    int           `json:"unchanged"`
	Errors       []RowError    `json:"errors"`
	LinksChanged int           `json:"links_changed"`
	FlagsSet     int           `json:"flags_set"`
	FlagsCleared int           `json:"flags_cleared"`
}

// AssetChange is one asset an import creates or updates, with its changed fields.
type AssetChange struct {
	Line     int           `json:"line,omitempty"`
	AssetTag string        `json:"asset_tag"`
	Changes  []FieldChange `json:"changes,omitempty"`
}

// FieldChange is one field's old and new value.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// RowError is one row's problem in an import or an asset write.
type RowError struct {
	Line     int    `json:"line"`
	AssetTag string `json:"asset_tag,omitempty"`
	Column   string `json:"column,omitempty"`
	Message  string `json:"message"`
}

// RegisterEntry is one change to the asset register.
type RegisterEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	AssetID   string    `json:"asset_id"`
	AssetTag  string    `json:"asset_tag"`
	DeviceID  string    `json:"device_id"`
	Subject   string    `json:"subject"`
	Old       string    `json:"old"`
	New       string    `json:"new"`
	ActorID   string    `json:"actor_id"`
	ActorName string    `json:"actor_name"`
}

// Changes counts what a register change did to links and flags.
type Changes struct {
	LinksChanged int `json:"links_changed"`
	FlagsSet     int `json:"flags_set"`
	FlagsCleared int `json:"flags_cleared"`
}

// Reconciliation is GET /api/v1/reconcile: the register against the fleet.
type Reconciliation struct {
	GeneratedAt  time.Time           `json:"generated_at"`
	HostnameRule string              `json:"hostname_rule"`
	Summary      ReconcileSummary    `json:"summary"`
	Matched      []ReconcileMatch    `json:"matched"`
	Unregistered []ReconcileDevice   `json:"unregistered"`
	Missing      []ReconcileAsset    `json:"missing"`
	NotInService []ReconcileMatch    `json:"not_in_service"`
	Mismatches   []ReconcileMismatch `json:"mismatches"`
}

// ReconcileSummary counts each section of a reconciliation.
type ReconcileSummary struct {
	Matched      int `json:"matched"`
	Unregistered int `json:"unregistered"`
	Missing      int `json:"missing"`
	NotInService int `json:"not_in_service"`
	Mismatches   int `json:"mismatches"`
}

// ReconcileMatch is an asset linked to a reporting device.
type ReconcileMatch struct {
	AssetTag string `json:"asset_tag"`
	Status   string `json:"status"`
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	LinkedBy string `json:"linked_by"`
	LastSeen string `json:"last_seen"`
	Severity string `json:"severity,omitempty"`
}

// ReconcileDevice is a device linked to no asset.
type ReconcileDevice struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Serial   string `json:"system_serial"`
	LastSeen string `json:"last_seen"`
	Since    string `json:"since"`
}

// ReconcileAsset is an asset in service that no device reports for.
type ReconcileAsset struct {
	AssetTag string `json:"asset_tag"`
	Serial   string `json:"serial"`
	Owner    string `json:"owner"`
	Location string `json:"location"`
	DeviceID string `json:"device_id"`
	LastSeen string `json:"last_seen"`
	Since    string `json:"since"`
	Detail   string `json:"detail"`
}

// ReconcileMismatch is a field the register and the device disagree on.
type ReconcileMismatch struct {
	AssetTag string `json:"asset_tag"`
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Field    string `json:"field"`
	Register string `json:"register"`
	Reported string `json:"reported"`
}

// LinkRequest is POST /api/v1/assets/{tag}/link.
type LinkRequest struct {
	// Device is a device id, serial or hostname.
	Device string `json:"device"`
}

// RowsErrorBody is the 400 of an asset write refused for row errors: the
// usual error object plus every row's problem.
type RowsErrorBody struct {
	Error RowsError `json:"error"`
}

// RowsError is wire.APIError with the rows.
type RowsError struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Rows    []RowError `json:"rows"`
}
