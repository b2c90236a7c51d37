package admin

import (
	"net/http"

	"github.com/gomaint/maintenance"
)

type releaseView struct {
	Release *string `json:"release"`
	Version int64   `json:"version"`
}

func (a *Admin) apiRelease(c *call) error {
	return c.reply(http.StatusOK, c.st.Version, releaseView{Release: nullable(c.st.Release), Version: c.st.Version})
}

func (a *Admin) apiSetRelease(c *call) error {
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	rel := in.text("release")
	reason := in.text("reason")
	if err := in.finish(); err != nil {
		return err
	}
	if _, err := maintenance.ParseRelease(rel); err != nil {
		return inField("release", err)
	}
	st, err := a.update(c, "reason", maintenance.SetRelease(rel), reason)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, st.Version, releaseView{Release: nullable(st.Release), Version: st.Version})
}
