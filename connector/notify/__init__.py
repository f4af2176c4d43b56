"""Notification emails: composing a notice, the words in each language, the text and HTML writers,
the ACS sender and the runs (imports the layers below)."""
