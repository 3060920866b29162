package firelens

import "testing"

func TestSplitPriority(t *testing.T) {
	tests := []struct {
		name     string
		pri      uint8
		facility string
		severity string
	}{
		{"kern_emerg", 0, "kern", "emerg"},
		{"fluent_bit_preset", 14, "user", "info"},
		{"logger_default", 13, "user", "notice"},
		{"authpriv_err", 83, "authpriv", "err"},
		{"solaris_cron_debug", 127, "solaris-cron", "debug"},
		{"local0_warning", 132, "local0", "warning"},
		{"local7_debug", MaxPriority, "local7", "debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s := SplitPriority(tt.pri)
			if f.String() != tt.facility || s.String() != tt.severity {
				t.Errorf("SplitPriority(%d) = %s.%s, want %s.%s", tt.pri, f, s, tt.facility, tt.severity)
			}
		})
	}
}

func TestNamesOutOfRange(t *testing.T) {
	if got := Facility(24).String(); got != "24" {
		t.Errorf("Facility(24).String() = %q, want %q", got, "24")
	}
	if got := Severity(8).String(); got != "8" {
		t.Errorf("Severity(8).String() = %q, want %q", got, "8")
	}
}

func TestHasPriority(t *testing.T) {
	tests := []struct {
		format Format
		want   bool
	}{
		{FormatRFC3164, true},
		{FormatRFC5424, true},
		{FormatRaw, false},
		{"", false},
	}
	for _, tt := range tests {
		r := Record{Format: tt.format}
		if got := r.HasPriority(); got != tt.want {
			t.Errorf("Record{Format: %q}.HasPriority() = %v, want %v", tt.format, got, tt.want)
		}
	}
}
