package msi

import (
	"fmt"
	"strings"
)

// Component attribute bits (Component table).
const (
	attrRegistryKeyPath = 0x4   // the key path is a Registry row
	attrTransitive      = 0x40  // the condition is evaluated again on reinstall
	attr64bit           = 0x100 // 64-bit registry view and folders
)

// Upgrade table attribute bits.
const (
	upgradeMigrateFeatures     = 0x1
	upgradeVersionMaxInclusive = 0x200
)

// ServiceInstall ErrorControl: SERVICE_ERROR_NORMAL, and
// msidbServiceInstallErrorControlVital, which makes a service that cannot
// be registered fail (and roll back) the install rather than leave an
// agent nothing starts.
const (
	serviceErrorNormal = 0x1
	serviceErrorVital  = 0x8000
)

// serviceConfigDelayedAutoStart is SERVICE_CONFIG_DELAYED_AUTO_START, and
// the events are msidbServiceConfigEventInstall|Reinstall.
const (
	serviceConfigDelayedAutoStart = 3
	serviceConfigOnInstall        = 1 | 4
)

// Fixups are the SQL statements msibuild runs on the database wixl made,
// for what wixl 0.101 cannot express; each is checked by the tests against
// the tables of a built package.
//
//   - Component conditions: wixl has no <Condition> under <Component>. Each
//     pre-seeded value's component gets its property as condition, so a
//     value is written only when given, and is transitive: a repair or
//     reinstall evaluates it again, which removes a value no longer given
//     (the Secret the agent deleted stays deleted) and writes a new one.
//   - Same-version upgrades: wixl has no AllowSameVersionUpgrades, so its
//     upgrade row is replaced by one whose VersionMax is inclusive; a
//     rebuild of the same version (a new ProductCode) then removes the
//     installed one instead of installing beside it.
//   - Secure properties: wixl has no Secure attribute. Public properties
//     reach the elevated server side of a per-machine install only when
//     listed in SecureCustomProperties (a standard user elevating through
//     UAC, managed installs).
//   - Vital service: wixl drops the Vital attribute of ServiceInstall.
//   - Delayed automatic start, as `roster-agent install` registers it: the
//     MsiServiceConfig table (Windows Installer 5.0) and its
//     MsiConfigureServices action between InstallServices and
//     StartServices. The failure actions (restart after 30 s) are not
//     set here: Microsoft documents MsiServiceConfigFailureActions as not
//     working as intended and recommends a custom action running sc.exe,
//     which wixl cannot build.
func (s Spec) Fixups() []string {
	var q []string
	var secure []string
	for _, seed := range Seeds {
		q = append(q, fmt.Sprintf("UPDATE `Component` SET `Condition` = %s, `Attributes` = %d WHERE `Component` = %s",
			sqlString(seed.Property), attr64bit|attrRegistryKeyPath|attrTransitive, sqlString(seedComponent(seed))))
		secure = append(secure, seed.Property)
	}
	q = append(q,
		"DELETE FROM `Upgrade` WHERE `ActionProperty` = 'WIX_UPGRADE_DETECTED'",
		fmt.Sprintf("INSERT INTO `Upgrade` (`UpgradeCode`, `VersionMin`, `VersionMax`, `Attributes`, `ActionProperty`) VALUES (%s, '', %s, %d, 'WIX_UPGRADE_DETECTED')",
			sqlString(UpgradeCode), sqlString(s.ProductVersion), upgradeMigrateFeatures|upgradeVersionMaxInclusive),
		fmt.Sprintf("UPDATE `Property` SET `Value` = %s WHERE `Property` = 'SecureCustomProperties'",
			sqlString(strings.Join(append([]string{"WIX_DOWNGRADE_DETECTED", "WIX_UPGRADE_DETECTED", "INSTALLDIR"}, secure...), ";"))),
		"CREATE TABLE `MsiServiceConfig` (`MsiServiceConfig` CHAR(72) NOT NULL, `Name` CHAR(255) NOT NULL, `Event` SHORT NOT NULL, `ConfigType` LONG NOT NULL, `Argument` CHAR(255), `Component_` CHAR(72) NOT NULL PRIMARY KEY `MsiServiceConfig`)",
		fmt.Sprintf("INSERT INTO `MsiServiceConfig` (`MsiServiceConfig`, `Name`, `Event`, `ConfigType`, `Argument`, `Component_`) VALUES ('AgentDelayedStart', %s, %d, %d, '1', 'Agent')",
			sqlString(ServiceName), serviceConfigOnInstall, serviceConfigDelayedAutoStart),
		"INSERT INTO `InstallExecuteSequence` (`Action`, `Condition`, `Sequence`) VALUES ('MsiConfigureServices', 'VersionNT', 5850)",
		fmt.Sprintf("UPDATE `ServiceInstall` SET `ErrorControl` = %d WHERE `ServiceInstall` = 'AgentService'", serviceErrorNormal|serviceErrorVital),
	)
	return q
}

// sqlString quotes a literal for the MSI SQL dialect, which has no escape
// for a quote inside a literal; every value here is a constant of this
// package or a version checked by ProductVersion.
func sqlString(s string) string {
	if strings.ContainsAny(s, "'\x00") {
		panic(fmt.Sprintf("msi: SQL literal %q holds a quote", s))
	}
	return "'" + s + "'"
}

// summaryTemplate is the summary information Template for the architecture:
// wixl knows no arm64, so the arm64 package is compiled as x64 (64-bit
// components, ProgramFiles64Folder) and its platform set to Arm64, as WiX
// does for arm64 (schema 500, which the package already declares).
func (s Spec) summaryTemplate() string {
	if s.Arch == "arm64" {
		return "Arm64;1033"
	}
	return "x64;1033"
}
