package registry

import (
	"strings"

	"github.com/rosterhq/roster/shared/fieldtext"
)

// maxText bounds a name, ticket, reason or note.
const maxText = 1024

// checkText refuses an empty (when required) or over-long value, or one
// that breaks fieldtext's one-line rule (a line break, a control or
// bidirectional character, invalid UTF-8), naming the field and where.
func checkText(name, v string, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return ErrInvalid.Errorf("%s is required", name)
	case len(v) > maxText:
		return ErrInvalid.Errorf("%s is longer than %d bytes", name, maxText)
	}
	if err := fieldtext.Check(name, v); err != nil {
		return ErrInvalid.Errorf("%w", err)
	}
	return nil
}
