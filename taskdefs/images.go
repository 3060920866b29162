package taskdefs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// This file is sidewatch's model of the log_router images it knows: which
// Fluent Bit version a tag ships and how the image starts Fluent Bit (its
// ENTRYPOINT and CMD). fluent-launch replaces the image's start, so inject
// must reproduce what that start did: the Go plugins it loads, the init
// process of aws-for-fluent-bit's init variant.

// ImageFamily is the kind of log_router image.
type ImageFamily string

// Image families.
const (
	// FamilyAWS is AWS for Fluent Bit (aws/aws-for-fluent-bit): Fluent Bit
	// plus the Go output plugins cloudwatch, firehose and kinesis.
	FamilyAWS ImageFamily = "aws-for-fluent-bit"
	// FamilyUpstream is the Fluent Bit project's image (fluent/fluent-bit).
	FamilyUpstream ImageFamily = "fluent-bit"
	// FamilyUnknown is any other image: sidewatch cannot know how it starts.
	FamilyUnknown ImageFamily = "unknown"
)

// Fluent Bit paths shared by both known families.
const (
	FluentBitPath   = "/fluent-bit/bin/fluent-bit"
	FireLensConfig  = "/fluent-bit/etc/fluent-bit.conf"
	awsEntrypoint   = "/entrypoint.sh"
	awsInitScript   = "/init/fluent_bit_init_entrypoint.sh"
	AWSInitProcess  = "/init/fluent_bit_init_process"
	awsGoPluginDir  = "/fluent-bit/"
	awsInitTagStart = "init-"
)

// awsGoPlugins are the shared objects aws-for-fluent-bit's entrypoint.sh
// and init process load, in their order
// (`exec /fluent-bit/bin/fluent-bit -e /fluent-bit/firehose.so -e
// /fluent-bit/cloudwatch.so -e /fluent-bit/kinesis.so -c ...`).
var awsGoPlugins = []string{"firehose", "cloudwatch", "kinesis"}

// RouterImage is what sidewatch knows about a log_router image reference.
type RouterImage struct {
	Ref    string
	Family ImageFamily
	// Init is aws-for-fluent-bit's init variant (tags init-*): an init
	// process exports the task's metadata and loads the files named by
	// aws_fluent_bit_init_* variables before it runs Fluent Bit.
	Init    bool
	Windows bool
	// FluentBit is the Fluent Bit version the tag ships ("1.9.10", or a
	// floor such as "4.1" when only the line is known); "" when the tag
	// moves (latest, stable) or the image is unknown.
	FluentBit string
	// Entrypoint and Cmd are the image's own, as Docker merges them with
	// the container's entryPoint and command. Known is false for an
	// unknown image.
	Entrypoint, Cmd []string
	Known           bool
}

// awsAccounts publish aws-for-fluent-bit to ECR (scripts/publish.sh of
// aws/aws-for-fluent-bit): the classic regions, China, GovCloud and the
// opt-in regions.
var awsAccounts = map[string]bool{
	"906394416424": true, "128054284489": true, "161423150738": true, "449074385750": true,
	"741863432321": true, "928143927712": true, "960320637246": true, "921575906885": true,
	"358001906437": true, "146576467002": true, "269912160255": true, "378905956269": true,
	"279248816148": true, "577945010369": true,
}

var ecrHostRE = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// splitImage splits a reference into registry host ("" for Docker Hub),
// repository path (with library/ for official Docker Hub images dropped),
// tag ("latest" when absent) and digest.
func splitImage(ref string) (host, repo, tag, digest string) {
	rest := ref
	if i := strings.Index(rest, "@"); i >= 0 {
		rest, digest = rest[:i], rest[i+1:]
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
		rest, tag = rest[:i], rest[i+1:]
	}
	if first, after, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		host, rest = first, after
	}
	if host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
		host = ""
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	return host, strings.TrimPrefix(rest, "library/"), tag, digest
}

// ClassifyImage returns sidewatch's model of a log_router image.
func ClassifyImage(ref string) RouterImage {
	img := RouterImage{Ref: ref, Family: FamilyUnknown}
	host, repo, tag, _ := splitImage(ref)
	switch {
	case isAWSRepo(host, repo):
		img.Family = FamilyAWS
		classifyAWSTag(&img, tag)
	case isUpstreamRepo(host, repo):
		img.Family = FamilyUpstream
		classifyUpstreamTag(&img, tag)
	default:
		// Tags say nothing about an unknown image, except Windows.
		img.Windows = strings.Contains(strings.ToLower(tag), "windows")
	}
	return img
}

// isAWSRepo recognises AWS's own repositories and mirrors that keep their
// path (ECR pull-through caches prefix it, e.g. ecr-public/...).
func isAWSRepo(host, repo string) bool {
	switch {
	case host == "public.ecr.aws" && repo == "aws-observability/aws-for-fluent-bit",
		host == "" && repo == "amazon/aws-for-fluent-bit":
		return true
	case strings.HasSuffix(repo, "/aws-observability/aws-for-fluent-bit"), strings.HasSuffix(repo, "/amazon/aws-for-fluent-bit"):
		return true
	}
	m := ecrHostRE.FindStringSubmatch(host)
	return m != nil && awsAccounts[m[1]] && repo == "aws-for-fluent-bit"
}

func isUpstreamRepo(host, repo string) bool {
	switch {
	case host == "" && repo == "fluent/fluent-bit",
		host == "cr.fluentbit.io" && repo == "fluent/fluent-bit",
		host == "ghcr.io" && repo == "fluent/fluent-bit":
		return true
	}
	return strings.HasSuffix(repo, "/fluent/fluent-bit") // pull-through caches
}

var versionTagRE = regexp.MustCompile(`^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\.[0-9]+)?$`)

func classifyAWSTag(img *RouterImage, tag string) {
	t := strings.ToLower(tag)
	if strings.Contains(t, "windowsservercore") {
		img.Windows = true
		return
	}
	t, img.Init = strings.CutPrefix(t, awsInitTagStart)
	for _, p := range []string{"debug-", "amd64-", "arm64-", "debug-"} {
		t = strings.TrimPrefix(t, p)
	}
	img.Known = true
	img.Cmd = []string{"/bin/sh", "-c", awsEntrypoint}
	if img.Init {
		img.Cmd = []string{"/bin/sh", "-c", awsInitScript}
	}
	img.FluentBit = awsFluentBit(t)
}

// awsFluentBit maps an aws-for-fluent-bit version tag to the Fluent Bit
// version it ships (the release notes of aws/aws-for-fluent-bit).
// Moving tags (latest, stable, 3) give "".
func awsFluentBit(tag string) string {
	m := versionTagRE.FindStringSubmatch(tag)
	if m == nil || m[2] == "" {
		return ""
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch := -1
	if m[3] != "" {
		patch, _ = strconv.Atoi(m[3])
	}
	switch {
	case major == 3 && minor == 0 && patch == 0:
		return "4.1.0"
	case major == 3 && minor == 0 && patch == 1:
		return "4.1.1"
	case major == 3 && minor == 2 && patch == 1:
		return "4.2.2"
	case major == 3:
		return "4.1" // every 3.x ships 4.1 or later
	case major == 2 && minor >= 29:
		return "1.9.10"
	case major == 2 && minor >= 24:
		return "1.9"
	case major == 2 && minor >= 17:
		return "1.8"
	case major == 2 && minor >= 12:
		return "1.7"
	case major == 2:
		return "1.3"
	}
	return ""
}

func classifyUpstreamTag(img *RouterImage, tag string) {
	t := strings.ToLower(tag)
	if strings.Contains(t, "windows") {
		img.Windows = true
		return
	}
	img.Known = true
	t, debug := strings.CutSuffix(t, "-debug")
	// The production image is distroless: ENTRYPOINT is Fluent Bit and
	// CMD repeats its path (which Fluent Bit ignores). The debug image has
	// a shell and only the CMD.
	img.Cmd = []string{FluentBitPath, "-c", FireLensConfig}
	if !debug {
		img.Entrypoint = []string{FluentBitPath}
	}
	if m := versionTagRE.FindStringSubmatch(t); m != nil {
		img.FluentBit = strings.Join(nonEmpty(m[1:4]), ".")
	}
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// HasAWSGoPlugins reports whether the image has the AWS Go plugins
// (/fluent-bit/cloudwatch.so and friends).
func (img RouterImage) HasAWSGoPlugins() bool { return img.Family == FamilyAWS }

// Version is a Fluent Bit version; a floor when only a prefix is known.
type Version struct{ Major, Minor, Patch int }

// ParseVersion parses "MAJOR[.MINOR[.PATCH]]", missing parts being 0.
func ParseVersion(s string) (Version, error) {
	m := versionTagRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("fluent bit version %q: want MAJOR.MINOR.PATCH such as 1.9.10", s)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		v.Minor, _ = strconv.Atoi(m[2])
	}
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

// AtLeast reports whether v >= w.
func (v Version) AtLeast(w Version) bool {
	if v.Major != w.Major {
		return v.Major > w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor > w.Minor
	}
	return v.Patch >= w.Patch
}

// Fluent Bit features the recipe depends on, with the first version that
// has them (from the plugins' history in fluent/fluent-bit).
var (
	// syslog_procid_preset and friends: out_syslog "support preset
	// configuration", first in v2.0.0.
	versionSyslogPresets = Version{2, 0, 0}
	// filter_multiline with custom multiline parsers.
	versionMultilineFilter = Version{1, 8, 2}
)

// fluentBitAtLeast reports whether a version string ("" for unknown) is
// known to be at least w. Unknown is never at least anything.
func fluentBitAtLeast(version string, w Version) bool {
	if version == "" {
		return false
	}
	v, err := ParseVersion(version)
	return err == nil && v.AtLeast(w)
}
