"""Where uploads and masks live: signed ids, the store interface and its backends, the records."""
