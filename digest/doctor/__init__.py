"""`digest doctor`: what mailbox providers check before they take a newsletter's mail (SPF,
DKIM, DMARC and MX of its From domain), whether its one-click unsubscribe reaches `digest
serve`, and its edition's email. `checkup.examine` makes one newsletter's report; the App
composes it (`App.doctor`) and asks it before a first send."""
