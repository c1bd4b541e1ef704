package password

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: RFC 6238's defaults, which every authenticator app
// understands (SHA-1, 6 digits, 30-second steps).
const (
	TOTPPeriod = 30 * time.Second
	// TOTPSkew is how many steps either side of now a code may be from:
	// one, for a phone clock a little off and a code typed as it turned.
	TOTPSkew = 1
)

func totpOpts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Skew: TOTPSkew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
}

// NewTOTP makes a TOTP secret (base32, 160 bits) for account and the
// otpauth:// URL an authenticator app enrols from (as a QR code or typed).
func NewTOTP(issuer, account string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(TOTPPeriod / time.Second),
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("generate TOTP secret: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// TOTPStep is the time step t falls in.
func TOTPStep(t time.Time) int64 {
	return t.Unix() / int64(TOTPPeriod/time.Second)
}

// TOTPCode is the code of secret at t (what an authenticator app shows).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts())
}

// ValidateTOTP checks code against secret at now, within TOTPSkew steps,
// and only for steps after lastUsed: a code once accepted is never
// accepted again, even within its window (RFC 6238 section 5.2). It
// returns the step the code matched, which the caller stores as the new
// lastUsed.
func ValidateTOTP(secret, code string, now time.Time, lastUsed int64) (step int64, ok bool) {
	if len(code) != otp.DigitsSix.Length() {
		return 0, false
	}
	cur := TOTPStep(now)
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*int64(TOTPPeriod/time.Second), 0), totpOpts())
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastUsed {
			return s, true
		}
	}
	return 0, false
}
