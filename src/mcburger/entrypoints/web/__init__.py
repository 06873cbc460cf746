"""The restaurant's screens: kiosk, customer board, kitchen display, analytics."""
