// kitchen page
