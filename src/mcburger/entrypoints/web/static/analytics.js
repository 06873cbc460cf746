// analytics page
