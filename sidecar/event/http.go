package event

import "strconv"

// HTTP is EVE's http object.
type HTTP struct {
	Hostname        string `json:"hostname,omitempty"`
	URL             string `json:"url,omitempty"`
	HTTPUserAgent   string `json:"http_user_agent,omitempty"`
	HTTPContentType string `json:"http_content_type,omitempty"`
	HTTPMethod      string `json:"http_method,omitempty"`
	Protocol        string `json:"protocol,omitempty"`
	Status          int    `json:"status,omitempty"`
	Length          int64  `json:"length,omitempty"`
}

func (h *HTTP) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"http":{`...)
	start := len(dst)
	dst = appendStringField(dst, "hostname", h.Hostname)
	dst = appendStringField(dst, "url", h.URL)
	dst = appendStringField(dst, "http_user_agent", h.HTTPUserAgent)
	dst = appendStringField(dst, "http_content_type", h.HTTPContentType)
	dst = appendStringField(dst, "http_method", h.HTTPMethod)
	dst = appendStringField(dst, "protocol", h.Protocol)
	dst = appendUintField(dst, "status", uint64(max(h.Status, 0)))
	if h.Length != 0 {
		dst = append(dst, `,"length":`...)
		dst = strconv.AppendInt(dst, h.Length, 10)
	}
	return closeObject(dst, start)
}
