package maintenance

import (
	"strconv"
	"strings"
)

// The languages of the built-in page, and of the text and problem+json
// answers. A visitor's Accept-Language picks one (English when none fits);
// the operator's message is shown in the visitor's language when the site
// has one (SiteState.Messages), else as typed.

// catalog holds the texts of one language. Texts with %s take a time or a
// duration; "%n" in a unit is replaced by the number.
type catalog struct {
	tag string
	// Titles (the problem's title, the text answer's first line, the
	// page's <title>), per reason.
	titleFull, titleScheduled, titleReadOnly, titleHold, titleUpdate string
	// Headings of the page, per reason.
	headFull, headScheduled, headReadOnly, headHold, headUpdate string
	// What is going on, per reason (shown with the operator's message, or
	// alone when there is none).
	textFull, textReadOnly, textHold, textUpdate string
	// What became of the visitor's request, for one that is not GET or HEAD.
	notSaved, maybeSaved string
	// When the site is expected back (%s: a time, or a duration).
	backBy, backIn, writesBy, writesIn string
	// Units for backIn and writesIn: [one, other] ("%n" is the number).
	minutes, hours [2]string
	// plural picks the form of a unit for n: 0 one, 1 other.
	plural func(n int) int
	// The page's own words.
	reloads, ready, goBack, home string
}

func pluralOne(n int) int {
	if n == 1 {
		return 0
	}
	return 1
}

func pluralFrench(n int) int {
	if n <= 1 {
		return 0
	}
	return 1
}

func pluralNone(int) int { return 1 }

// catalogs are the built-in languages, English first (the fallback).
var catalogs = []*catalog{
	{
		tag:       "en",
		titleFull: "Down for maintenance", titleScheduled: "Down for scheduled maintenance",
		titleReadOnly: "Read-only during maintenance", titleHold: "Briefly unavailable",
		titleUpdate: "Temporarily unavailable during an update",
		headFull:    "We’re down for maintenance", headScheduled: "We’re down for scheduled maintenance",
		headReadOnly: "Changes are paused for maintenance", headHold: "This is taking longer than expected",
		headUpdate:   "We’re updating the site",
		textFull:     "The site is unavailable while we work on it. Thank you for your patience.",
		textReadOnly: "You can still browse the site, but it cannot save changes right now.",
		textHold:     "The site is switching over, and your request waited too long.",
		textUpdate:   "Something went wrong while the site is being updated.",
		notSaved:     "What you just sent was not saved.",
		maybeSaved:   "What you just sent may have been saved already: check before you send it again.",
		backBy:       "Expected back by %s.", backIn: "Expected back in about %s.",
		writesBy: "Changes can be made again by %s.", writesIn: "Changes can be made again in about %s.",
		minutes: [2]string{"%n minute", "%n minutes"}, hours: [2]string{"%n hour", "%n hours"}, plural: pluralOne,
		reloads: "This page reloads by itself when the site is back.",
		ready:   "The site is available again.", goBack: "Go back", home: "Home page",
	},
	{
		tag:       "de",
		titleFull: "Wartungsarbeiten", titleScheduled: "Geplante Wartungsarbeiten",
		titleReadOnly: "Während der Wartung nur lesbar", titleHold: "Kurz nicht erreichbar",
		titleUpdate: "Während eines Updates vorübergehend nicht erreichbar",
		headFull:    "Wir führen Wartungsarbeiten durch", headScheduled: "Wir führen geplante Wartungsarbeiten durch",
		headReadOnly: "Änderungen sind wegen Wartung pausiert", headHold: "Das dauert länger als erwartet",
		headUpdate:   "Wir aktualisieren die Website",
		textFull:     "Die Website ist während der Arbeiten nicht erreichbar. Vielen Dank für Ihre Geduld.",
		textReadOnly: "Sie können die Website weiter ansehen, aber gerade keine Änderungen speichern.",
		textHold:     "Die Website wird umgestellt, und Ihre Anfrage hat zu lange gewartet.",
		textUpdate:   "Während die Website aktualisiert wird, ist ein Fehler aufgetreten.",
		notSaved:     "Was Sie gerade gesendet haben, wurde nicht gespeichert.",
		maybeSaved:   "Was Sie gerade gesendet haben, wurde möglicherweise schon gespeichert: Prüfen Sie das, bevor Sie es erneut senden.",
		backBy:       "Voraussichtlich wieder erreichbar bis %s.", backIn: "Voraussichtlich wieder erreichbar in etwa %s.",
		writesBy: "Änderungen sind voraussichtlich ab %s wieder möglich.", writesIn: "Änderungen sind voraussichtlich in etwa %s wieder möglich.",
		minutes: [2]string{"%n Minute", "%n Minuten"}, hours: [2]string{"%n Stunde", "%n Stunden"}, plural: pluralOne,
		reloads: "Diese Seite lädt sich von selbst neu, sobald die Website wieder erreichbar ist.",
		ready:   "Die Website ist wieder erreichbar.", goBack: "Zurück", home: "Startseite",
	},
	{
		tag:       "fr",
		titleFull: "En maintenance", titleScheduled: "Maintenance programmée",
		titleReadOnly: "Lecture seule pendant la maintenance", titleHold: "Brièvement indisponible",
		titleUpdate: "Temporairement indisponible pendant une mise à jour",
		headFull:    "Le site est en maintenance", headScheduled: "Le site est en maintenance programmée",
		headReadOnly: "Les modifications sont suspendues pour maintenance", headHold: "Cela prend plus de temps que prévu",
		headUpdate:   "Nous mettons le site à jour",
		textFull:     "Le site est indisponible pendant les travaux. Merci de votre patience.",
		textReadOnly: "Vous pouvez toujours consulter le site, mais il ne peut pas enregistrer de modifications pour le moment.",
		textHold:     "Le site est en cours de bascule et votre requête a attendu trop longtemps.",
		textUpdate:   "Une erreur s’est produite pendant la mise à jour du site.",
		notSaved:     "Ce que vous venez d’envoyer n’a pas été enregistré.",
		maybeSaved:   "Ce que vous venez d’envoyer a peut-être déjà été enregistré : vérifiez avant de l’envoyer à nouveau.",
		backBy:       "Retour prévu d’ici %s.", backIn: "Retour prévu dans environ %s.",
		writesBy: "Les modifications seront de nouveau possibles d’ici %s.", writesIn: "Les modifications seront de nouveau possibles dans environ %s.",
		minutes: [2]string{"%n minute", "%n minutes"}, hours: [2]string{"%n heure", "%n heures"}, plural: pluralFrench,
		reloads: "Cette page se recharge d’elle-même dès que le site est de retour.",
		ready:   "Le site est de nouveau disponible.", goBack: "Revenir en arrière", home: "Page d’accueil",
	},
	{
		tag:       "es",
		titleFull: "En mantenimiento", titleScheduled: "Mantenimiento programado",
		titleReadOnly: "Solo lectura durante el mantenimiento", titleHold: "Brevemente no disponible",
		titleUpdate: "No disponible temporalmente durante una actualización",
		headFull:    "Estamos en mantenimiento", headScheduled: "Estamos en un mantenimiento programado",
		headReadOnly: "Los cambios están en pausa por mantenimiento", headHold: "Esto está tardando más de lo previsto",
		headUpdate:   "Estamos actualizando el sitio",
		textFull:     "El sitio no está disponible mientras trabajamos en él. Gracias por su paciencia.",
		textReadOnly: "Puede seguir navegando por el sitio, pero ahora mismo no puede guardar cambios.",
		textHold:     "El sitio se está cambiando de versión y su solicitud esperó demasiado.",
		textUpdate:   "Algo salió mal mientras se actualiza el sitio.",
		notSaved:     "Lo que acaba de enviar no se ha guardado.",
		maybeSaved:   "Lo que acaba de enviar puede que ya se haya guardado: compruébelo antes de enviarlo de nuevo.",
		backBy:       "Volveremos antes de %s.", backIn: "Volveremos en aproximadamente %s.",
		writesBy: "Se podrán hacer cambios de nuevo antes de %s.", writesIn: "Se podrán hacer cambios de nuevo en aproximadamente %s.",
		minutes: [2]string{"%n minuto", "%n minutos"}, hours: [2]string{"%n hora", "%n horas"}, plural: pluralOne,
		reloads: "Esta página se recarga sola cuando el sitio vuelva a estar disponible.",
		ready:   "El sitio vuelve a estar disponible.", goBack: "Volver", home: "Página de inicio",
	},
	{
		tag:       "it",
		titleFull: "In manutenzione", titleScheduled: "Manutenzione programmata",
		titleReadOnly: "Sola lettura durante la manutenzione", titleHold: "Brevemente non disponibile",
		titleUpdate: "Temporaneamente non disponibile durante un aggiornamento",
		headFull:    "Il sito è in manutenzione", headScheduled: "Il sito è in manutenzione programmata",
		headReadOnly: "Le modifiche sono sospese per manutenzione", headHold: "Ci vuole più tempo del previsto",
		headUpdate:   "Stiamo aggiornando il sito",
		textFull:     "Il sito non è disponibile mentre ci lavoriamo. Grazie per la pazienza.",
		textReadOnly: "Puoi ancora consultare il sito, ma al momento non può salvare modifiche.",
		textHold:     "Il sito sta passando a una nuova versione e la tua richiesta ha atteso troppo.",
		textUpdate:   "Qualcosa è andato storto durante l’aggiornamento del sito.",
		notSaved:     "Ciò che hai appena inviato non è stato salvato.",
		maybeSaved:   "Ciò che hai appena inviato potrebbe essere già stato salvato: controlla prima di inviarlo di nuovo.",
		backBy:       "Di nuovo disponibile entro %s.", backIn: "Di nuovo disponibile tra circa %s.",
		writesBy: "Sarà di nuovo possibile fare modifiche entro %s.", writesIn: "Sarà di nuovo possibile fare modifiche tra circa %s.",
		minutes: [2]string{"%n minuto", "%n minuti"}, hours: [2]string{"%n ora", "%n ore"}, plural: pluralOne,
		reloads: "Questa pagina si ricarica da sola quando il sito torna disponibile.",
		ready:   "Il sito è di nuovo disponibile.", goBack: "Torna indietro", home: "Pagina iniziale",
	},
	{
		tag:       "pt",
		titleFull: "Em manutenção", titleScheduled: "Manutenção programada",
		titleReadOnly: "Somente leitura durante a manutenção", titleHold: "Brevemente indisponível",
		titleUpdate: "Temporariamente indisponível durante uma atualização",
		headFull:    "Estamos em manutenção", headScheduled: "Estamos em manutenção programada",
		headReadOnly: "As alterações estão suspensas para manutenção", headHold: "Isto está demorando mais do que o esperado",
		headUpdate:   "Estamos atualizando o site",
		textFull:     "O site está indisponível enquanto trabalhamos nele. Obrigado pela paciência.",
		textReadOnly: "Você ainda pode navegar no site, mas ele não pode salvar alterações neste momento.",
		textHold:     "O site está mudando de versão e o seu pedido esperou demais.",
		textUpdate:   "Algo deu errado enquanto o site está sendo atualizado.",
		notSaved:     "O que você acabou de enviar não foi salvo.",
		maybeSaved:   "O que você acabou de enviar pode já ter sido salvo: verifique antes de enviar de novo.",
		backBy:       "Previsão de retorno até %s.", backIn: "Previsão de retorno em cerca de %s.",
		writesBy: "Será possível fazer alterações de novo até %s.", writesIn: "Será possível fazer alterações de novo em cerca de %s.",
		minutes: [2]string{"%n minuto", "%n minutos"}, hours: [2]string{"%n hora", "%n horas"}, plural: pluralOne,
		reloads: "Esta página recarrega sozinha quando o site voltar.",
		ready:   "O site está disponível novamente.", goBack: "Voltar", home: "Página inicial",
	},
	{
		tag:       "nl",
		titleFull: "Onderhoud", titleScheduled: "Gepland onderhoud",
		titleReadOnly: "Alleen-lezen tijdens onderhoud", titleHold: "Even niet beschikbaar",
		titleUpdate: "Tijdelijk niet beschikbaar tijdens een update",
		headFull:    "We zijn bezig met onderhoud", headScheduled: "We zijn bezig met gepland onderhoud",
		headReadOnly: "Wijzigingen zijn gepauzeerd voor onderhoud", headHold: "Dit duurt langer dan verwacht",
		headUpdate:   "We werken de site bij",
		textFull:     "De site is niet beschikbaar terwijl we eraan werken. Bedankt voor uw geduld.",
		textReadOnly: "U kunt de site nog steeds bekijken, maar hij kan op dit moment geen wijzigingen opslaan.",
		textHold:     "De site schakelt over en uw verzoek heeft te lang gewacht.",
		textUpdate:   "Er ging iets mis terwijl de site wordt bijgewerkt.",
		notSaved:     "Wat u zojuist hebt verstuurd, is niet opgeslagen.",
		maybeSaved:   "Wat u zojuist hebt verstuurd, is misschien al opgeslagen: controleer dat voordat u het opnieuw verstuurt.",
		backBy:       "Naar verwachting terug vóór %s.", backIn: "Naar verwachting terug over ongeveer %s.",
		writesBy: "Wijzigingen zijn naar verwachting weer mogelijk vóór %s.", writesIn: "Wijzigingen zijn naar verwachting weer mogelijk over ongeveer %s.",
		minutes: [2]string{"%n minuut", "%n minuten"}, hours: [2]string{"%n uur", "%n uur"}, plural: pluralOne,
		reloads: "Deze pagina laadt vanzelf opnieuw zodra de site terug is.",
		ready:   "De site is weer beschikbaar.", goBack: "Ga terug", home: "Startpagina",
	},
	{
		tag:       "pl",
		titleFull: "Przerwa techniczna", titleScheduled: "Planowana przerwa techniczna",
		titleReadOnly: "Tylko do odczytu podczas prac", titleHold: "Chwilowo niedostępne",
		titleUpdate: "Tymczasowo niedostępne podczas aktualizacji",
		headFull:    "Trwa przerwa techniczna", headScheduled: "Trwa planowana przerwa techniczna",
		headReadOnly: "Zmiany są wstrzymane na czas prac", headHold: "To trwa dłużej, niż oczekiwano",
		headUpdate:   "Aktualizujemy serwis",
		textFull:     "Serwis jest niedostępny na czas prac. Dziękujemy za cierpliwość.",
		textReadOnly: "Nadal możesz przeglądać serwis, ale w tej chwili nie może on zapisywać zmian.",
		textHold:     "Serwis jest przełączany, a Twoje żądanie czekało zbyt długo.",
		textUpdate:   "Podczas aktualizacji serwisu coś poszło nie tak.",
		notSaved:     "To, co właśnie wysłano, nie zostało zapisane.",
		maybeSaved:   "To, co właśnie wysłano, mogło już zostać zapisane: sprawdź to przed ponownym wysłaniem.",
		backBy:       "Planowany powrót do %s.", backIn: "Planowany powrót za około %s.",
		writesBy: "Zmiany będą znów możliwe do %s.", writesIn: "Zmiany będą znów możliwe za około %s.",
		// After "około": the genitive, singular for 1, plural otherwise.
		minutes: [2]string{"%n minuty", "%n minut"}, hours: [2]string{"%n godziny", "%n godzin"}, plural: pluralOne,
		reloads: "Ta strona odświeży się sama, gdy serwis wróci.",
		ready:   "Serwis jest znów dostępny.", goBack: "Wróć", home: "Strona główna",
	},
	{
		tag:       "ja",
		titleFull: "メンテナンス中", titleScheduled: "計画メンテナンス中",
		titleReadOnly: "メンテナンス中は閲覧のみ", titleHold: "一時的にご利用いただけません",
		titleUpdate: "更新作業のため一時的にご利用いただけません",
		headFull:    "ただいまメンテナンス中です", headScheduled: "ただいま計画メンテナンス中です",
		headReadOnly: "メンテナンスのため変更を停止しています", headHold: "想定より時間がかかっています",
		headUpdate:   "サイトを更新しています",
		textFull:     "作業中のため、サイトをご利用いただけません。ご不便をおかけして申し訳ありません。",
		textReadOnly: "サイトの閲覧はできますが、現在は変更を保存できません。",
		textHold:     "サイトの切り替え中に、リクエストの待ち時間が長くなりすぎました。",
		textUpdate:   "サイトの更新中に問題が発生しました。",
		notSaved:     "送信された内容は保存されていません。",
		maybeSaved:   "送信された内容はすでに保存されている可能性があります。再送信する前にご確認ください。",
		backBy:       "%sまでに再開する見込みです。", backIn: "約%sで再開する見込みです。",
		writesBy: "%sまでに変更できるようになる見込みです。", writesIn: "約%sで変更できるようになる見込みです。",
		minutes: [2]string{"%n分", "%n分"}, hours: [2]string{"%n時間", "%n時間"}, plural: pluralNone,
		reloads: "サイトが再開すると、このページは自動的に再読み込みされます。",
		ready:   "サイトは再びご利用いただけます。", goBack: "前のページに戻る", home: "ホーム",
	},
	{
		tag:       "zh",
		titleFull: "维护中", titleScheduled: "计划维护中",
		titleReadOnly: "维护期间只读", titleHold: "暂时无法访问",
		titleUpdate: "更新期间暂时无法访问",
		headFull:    "网站正在维护", headScheduled: "网站正在进行计划维护",
		headReadOnly: "维护期间暂停修改", headHold: "所需时间比预期更长",
		headUpdate:   "我们正在更新网站",
		textFull:     "维护期间网站无法访问。感谢您的耐心等待。",
		textReadOnly: "您仍可浏览网站，但目前无法保存更改。",
		textHold:     "网站正在切换，您的请求等待时间过长。",
		textUpdate:   "网站更新期间出现了问题。",
		notSaved:     "您刚才提交的内容未被保存。",
		maybeSaved:   "您刚才提交的内容可能已被保存：再次提交前请先确认。",
		backBy:       "预计在%s之前恢复。", backIn: "预计约%s后恢复。",
		writesBy: "预计在%s之前可以再次修改。", writesIn: "预计约%s后可以再次修改。",
		minutes: [2]string{"%n分钟", "%n分钟"}, hours: [2]string{"%n小时", "%n小时"}, plural: pluralNone,
		reloads: "网站恢复后，此页面会自动重新加载。",
		ready:   "网站已恢复访问。", goBack: "返回", home: "首页",
	},
}

// Languages returns the tags of the built-in page's languages, English first.
func Languages() []string {
	tags := make([]string, len(catalogs))
	for i, c := range catalogs {
		tags[i] = c.tag
	}
	return tags
}

// catalogTags are the tags of catalogs, for pickLang.
var catalogTags = Languages()

// contentLanguage holds a Content-Language value per catalog, prebuilt so
// that setting the header does not allocate.
var contentLanguage = func() [][]string {
	v := make([][]string, len(catalogs))
	for i, c := range catalogs {
		v[i] = []string{c.tag}
	}
	return v
}()

// about says "about N minutes" (or hours) in c's language, rounded: whole
// minutes up to 10, then fives up to 90 minutes, then whole hours.
func (c *catalog) about(seconds int) string {
	m := (seconds + 59) / 60
	unit, n := c.minutes, m
	switch {
	case m > 90:
		unit, n = c.hours, (seconds+1800)/3600
	case m > 10:
		n = (m + 2) / 5 * 5
	}
	return strings.Replace(unit[c.plural(n)], "%n", strconv.Itoa(n), 1)
}

// maxLangRanges is how many ranges of an Accept-Language header are read:
// browsers send a handful; the rest of a longer header is ignored.
const maxLangRanges = 32

// pickLang returns the index of the tag in tags (lower-case primary
// subtags, region/script as given) that a visitor's Accept-Language
// (RFC 9110 §12.5.4) prefers, or -1 when none is acceptable. It follows
// RFC 4647 lookup: the ranges in order of quality (the first listed wins a
// tie), each tried as is, then truncated ("de-CH" finds "de"); a range also
// finds a longer tag ("zh" finds "zh-TW"). A range with q=0 excludes what it
// matches. It does not allocate. At most 64 tags are considered.
func pickLang(header string, tags []string) int {
	if header == "" || len(tags) == 0 {
		return -1
	}
	if len(tags) > 64 {
		tags = tags[:64]
	}
	// First pass: exclusions (q=0).
	var excluded uint64
	h := header
	for n := 0; h != "" && n < maxLangRanges; n++ {
		var item string
		item, h, _ = strings.Cut(h, ",")
		r, q := langRange(item)
		if q != 0 || r == "" || r == "*" {
			continue
		}
		for i, t := range tags {
			if langEqual(t, r) || langPrefix(r, t) {
				excluded |= 1 << i
			}
		}
	}
	best, bestQ := -1, 0.0
	h = header
	for n := 0; h != "" && n < maxLangRanges; n++ {
		var item string
		item, h, _ = strings.Cut(h, ",")
		r, q := langRange(item)
		if q <= bestQ || r == "" || r == "*" {
			continue
		}
		if i := lookupLang(r, tags, excluded); i >= 0 {
			best, bestQ = i, q
		}
	}
	return best
}

// lookupLang finds range r in tags: the same tag, then r truncated, then
// a tag that extends r.
func lookupLang(r string, tags []string, excluded uint64) int {
	for cut := r; cut != ""; {
		for i, t := range tags {
			if excluded&(1<<i) == 0 && langEqual(t, cut) {
				return i
			}
		}
		j := strings.LastIndexAny(cut, "-_")
		if j < 0 {
			break
		}
		cut = cut[:j]
		// A single-letter subtag ("x" of "de-x-foo") goes with what follows.
		if k := strings.LastIndexAny(cut, "-_"); k >= 0 && len(cut)-k == 2 {
			cut = cut[:k]
		}
	}
	for i, t := range tags {
		if excluded&(1<<i) == 0 && langPrefix(r, t) {
			return i
		}
	}
	return -1
}

// langRange parses one item of Accept-Language: its range and quality
// (1 when absent, 0 when malformed).
func langRange(item string) (string, float64) {
	r, params, _ := strings.Cut(item, ";")
	r = strings.TrimSpace(r)
	q := 1.0
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q = parseQ(strings.TrimSpace(v))
		}
	}
	return r, q
}

// langEqual compares two language tags, ignoring ASCII case; "_" is taken
// for "-" (some clients send "de_DE").
func langEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if x|0x20 != y|0x20 || x != y && (x|0x20 < 'a' || x|0x20 > 'z') {
			return false
		}
	}
	return true
}

// langPrefix reports whether tag t extends range r by whole subtags ("zh"
// and "zh-TW").
func langPrefix(r, t string) bool {
	return len(t) > len(r) && (t[len(r)] == '-' || t[len(r)] == '_') && langEqual(t[:len(r)], r)
}

// ParseLang checks a language tag for a message (BCP 47 shape: a primary
// language of 2 or 3 letters, then subtags of 1 to 8 letters or digits)
// and returns it in its usual form: "pt-BR", "zh-Hant", "de". The error
// wraps ErrInvalid and says what is accepted.
func ParseLang(s string) (string, error) {
	bad := func() (string, error) {
		return "", invalidf("language %q: accepted: a language tag like de, pt-BR or zh-Hant", s)
	}
	if len(s) > 35 {
		return bad()
	}
	parts := strings.Split(strings.ReplaceAll(s, "_", "-"), "-")
	for i, p := range parts {
		if len(p) == 0 || len(p) > 8 || i == 0 && (len(p) < 2 || len(p) > 3) {
			return bad()
		}
		for j := 0; j < len(p); j++ {
			c := p[j] | 0x20
			if !(c >= 'a' && c <= 'z' || p[j] >= '0' && p[j] <= '9' && i > 0) {
				return bad()
			}
		}
		switch p = strings.ToLower(p); {
		case i > 0 && len(p) == 2 && parts[i-1] != "x":
			p = strings.ToUpper(p) // a region
		case i > 0 && len(p) == 4 && p[0] >= 'a':
			p = strings.ToUpper(p[:1]) + p[1:] // a script
		}
		parts[i] = p
	}
	return strings.Join(parts, "-"), nil
}
