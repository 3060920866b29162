package delivery

import (
	"fmt"
	"net/url"
	"regexp"
)

var typeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ValidateTypes checks an --*-event-types list; what names the flag and
// variable.
func ValidateTypes(what string, types []string) error {
	for _, t := range types {
		if !typeRE.MatchString(t) {
			return fmt.Errorf("%s: %q is not an event type such as alert, log, flow or dns", what, t)
		}
	}
	return nil
}

// ValidateURL checks an --*-endpoint-url (empty is fine).
func ValidateURL(what, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an http:// or https:// URL, got %q", what, s)
	}
	return nil
}
