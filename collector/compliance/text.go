package compliance

import (
	"errors"
	"fmt"

	"github.com/rosterhq/roster/shared/fieldtext"
)

// checkText applies fieldtext's rule to a policy's free text, which
// rosterctl, the web pages and webhook receivers show: the description may
// span lines; the title, fail_reason, scope tags and params.name are one
// line. The id has its own, stricter syntax.
func (p Policy) checkText() (field string, err *fieldtext.Error) {
	type text struct {
		field, v string
		lines    bool
	}
	texts := []text{{"title", p.Title, false}, {"description", p.Description, true}, {"fail_reason", p.FailReason, false},
		{"params.name", p.Params.Name, false}}
	for i, t := range p.Scope.Tags {
		texts = append(texts, text{fmt.Sprintf("scope.tags[%d]", i), t, false})
	}
	for _, t := range texts {
		check := fieldtext.Check
		if t.lines {
			check = fieldtext.CheckLines
		}
		var fe *fieldtext.Error
		if errors.As(check(t.field, t.v), &fe) {
			return t.field, fe
		}
	}
	return "", nil
}
