// kiosk page
